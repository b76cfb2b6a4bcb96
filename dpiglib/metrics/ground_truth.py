"""Ground-truth scores on SynthPerson: every DPIG task against its true render, per factor.

Real datasets only hold the photographs that were taken, so pose-guided generation is scored
against the target photo, whose background is not the source's (orig §6 scores it anyway), and
swaps cannot be scored at all. SynthPerson renders any (appearance, pose, background)
combination (:class:`dpiglib.synth.dataset.SynthGroundTruth`), so each task of orig §5 has a true image:

================ ==================================================== ========================
task             what the model is asked                              true render
================ ==================================================== ========================
reconstruction   re-draw held-out image *a* from its own factors      the stored image *a*
pose_transfer    *a*'s person and background in *b*'s pose (PG2)     app a, pose b, bg a
fg_swap          *a* with the person (fg code) of *b*                 app b, pose a, bg a
bg_swap          *a* with the background (bg code) of *b*             app a, pose a, bg b
================ ==================================================== ========================

Scores per task: SSIM (the ``clean`` colour Gaussian variant of :mod:`dpiglib.metrics.ssim`),
L1 = mean |g − t| / 255 in [0, 1], and L1 on the true foreground / background pixels of the true
render (which factor the error sits in); LPIPS when its user weights are present.

**Leakage** (per factor): change one factor's code and measure how much the pixels that the true
masks assign to the *other* factors change, mean |Δ| / 255 on [0, 1]:

* ``bg``: Δ = bg_swap(a, b) − reconstruction(a), on *a*'s true foreground (should stay 0);
* ``fg``: Δ = fg_swap(a, b) − reconstruction(a), on the pixels that are background in both the
  reconstruction's and the swap's true render (should stay 0);
* ``pose``: Δ = pose_transfer(a, b) − reconstruction(a), on pixels that are background in both
  *a* and the pose-transferred true render (the background should stay put).

Each comes with the *intended* change on the factor's own pixels, so a model that changes nothing
(``leak 0, intended 0``) is told apart from a disentangled one. Not a paper metric: a check this
kit can make because SynthPerson knows its factors (cf. :mod:`dpiglib.metrics.disentangle`).

A "model" is anything with ``predict(task, source, target) -> uint8 (H, W, 3)``
(:class:`GroundTruthModel`); :class:`OracleModel` (true renders: perfect scores) and
:class:`CopySourceModel` (the source image: the trivial baseline) bracket the scale, and
:class:`SamplerModel` adapts a trained :class:`~dpiglib.sampling.sampler.Sampler`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["TASKS", "GroundTruthModel", "OracleModel", "CopySourceModel", "SamplerModel",
           "true_render", "ground_truth_pairs", "ground_truth_scores", "leakage_scores",
           "ground_truth_ratios", "score_value", "RATIO_NAMES", "FG_L1"]

TASKS: tuple[str, ...] = ("reconstruction", "pose_transfer", "fg_swap", "bg_swap")
_LEAK_TASK = {"bg": "bg_swap", "fg": "fg_swap", "pose": "pose_transfer"}
#: The metric name of the L1 on the true foreground in a ground_truth_scores frame.
FG_L1 = "L1 on true foreground"


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


def true_render(gt, task: str, source: str, target: str):
    """The true :class:`~dpiglib.synth.renderer.RenderResult` of ``task`` for (source, target)."""
    _check_task(task)
    if task == "reconstruction":
        return gt.render(source)
    if task == "pose_transfer":
        return gt.render(source, pose_from=target)
    if task == "bg_swap":
        return gt.render(source, background_from=target)
    # fg_swap: the target's person (appearance) in the source's pose, on the source's background
    app, _, _ = gt.factors(target)
    _, pose, bg = gt.factors(source)
    return gt.renderer.render(app, pose, bg)


class GroundTruthModel:
    """Interface of a model scored against SynthPerson's true renders.

    Subclasses implement :meth:`predict`; :meth:`predict_batch` may be overridden for speed.
    """

    name = "model"

    def predict(self, task: str, source: str, target: str) -> np.ndarray:
        """uint8 (H, W, 3) output of ``task`` for image names ``source`` and ``target``."""
        raise NotImplementedError

    def predict_batch(self, task: str, pairs: Sequence[tuple[str, str]]) -> list[np.ndarray]:
        """Outputs for many pairs (default: one :meth:`predict` per pair)."""
        return [self.predict(task, a, b) for a, b in pairs]


class OracleModel(GroundTruthModel):
    """Returns the true render: every score is perfect (SSIM 1, L1 0, no leakage)."""

    name = "oracle (true renders)"

    def __init__(self, gt):
        self.gt = gt

    def predict(self, task: str, source: str, target: str) -> np.ndarray:
        return true_render(self.gt, task, source, target).image


class CopySourceModel(GroundTruthModel):
    """Returns the stored source image whatever the task: the do-nothing baseline."""

    name = "copy source"

    def __init__(self, root: str | os.PathLike, split: str = "test"):
        self.dir = Path(root) / split

    def predict(self, task: str, source: str, target: str) -> np.ndarray:
        from dpiglib.metrics.io import read_image

        return read_image(self.dir / source, f"source image of {task}")


class SamplerModel(GroundTruthModel):
    """A trained DPIG behind :class:`GroundTruthModel` (Stage-I encoders + generator).

    Each image is encoded once (cached); the tasks then render the same factor combinations as
    :class:`~dpiglib.sampling.sampler.Sampler`: reconstruction every factor from *a*; pose transfer
    ``pose_transfer(a, b)`` (a's appearance, b's pose embedding and keypoints); swaps
    ``swap(a, b, "fg"/"bg")`` (DeepFashion-style models swap ``app`` and have no ``bg_swap``).
    """

    name = "DPIG"

    def __init__(self, sampler, root: str | os.PathLike, split: str = "test",
                 batch_size: int = 32):
        from dpiglib.data.datasets import PersonDataset

        self.sampler = sampler
        self.ds = PersonDataset(root, split, sampler.cfg.data, flip=False)
        self.index = {n: i for i, n in enumerate(self.ds.names)}
        self.batch_size = int(batch_size)
        self._cache: dict[str, Any] = {}  # image name → its encoded Factors (batch 1)

    def _encode(self, names: Sequence[str]) -> None:
        """Encode (once) every image of ``names`` not yet cached, in batches."""
        todo = [n for n in dict.fromkeys(names) if n not in self._cache]
        missing = [n for n in todo if n not in self.index]
        if missing:
            raise KeyError(f"image {missing[0]!r} is not an annotated image of "
                           f"{self.ds.files.image_dir}")
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i:i + self.batch_size]
            fac = self.sampler.encode([self.ds.load(self.index[n]) for n in chunk])
            for k, n in enumerate(chunk):
                self._cache[n] = fac.rows(k)

    def _factors(self, task: str, a: Sequence[str], b: Sequence[str]):
        """The factors each task renders: the Sampler's swap / pose_transfer semantics."""
        import torch

        from dpiglib.sampling.sampler import Factors

        s = self.sampler
        take = {"reconstruction": {}, "pose_transfer": {"pose": "b"},
                "fg_swap": {s.appearance_names[0]: "b"}, "bg_swap": {"bg": "b"}}[task]
        if task == "bg_swap" and "bg" not in s.factor_names:
            raise ValueError("bg_swap: this model has no background factor (DeepFashion-style)")
        src = {"a": a, "b": b}
        emb = {f: torch.cat([self._cache[n].embeddings[f] for n in src[take.get(f, "a")]])
               for f in self._cache[a[0]].embeddings}
        rcv = torch.cat([self._cache[n].rcv for n in src[take.get("pose", "a")]])
        return Factors(emb, rcv)

    def predict_batch(self, task: str, pairs: Sequence[tuple[str, str]]) -> list[np.ndarray]:
        from dpiglib.metrics.evaluation import to_uint8_images

        _check_task(task)
        if task == "bg_swap" and "bg" not in self.sampler.factor_names:
            raise ValueError("bg_swap: this model has no background factor (DeepFashion-style)")
        self._encode([n for p in pairs for n in p])
        out: list[np.ndarray] = []
        for i in range(0, len(pairs), self.batch_size):
            chunk = pairs[i:i + self.batch_size]
            fac = self._factors(task, [p[0] for p in chunk], [p[1] for p in chunk])
            out.extend(to_uint8_images(self.sampler.render(fac)))
        return out

    def predict(self, task: str, source: str, target: str) -> np.ndarray:
        return self.predict_batch(task, [(source, target)])[0]


def _usable_names(root: Path, split: str) -> list[str]:
    from dpiglib.data.annotations import find_dataset_files, is_all_missing, read_annotation_csv

    files = find_dataset_files(root, split, "synth")
    return [n for n, r in read_annotation_csv(files.annotation).items() if not is_all_missing(r)]


def ground_truth_pairs(root: str | os.PathLike, split: str, task: str, n: int,
                       identities: dict[str, int] | None = None) -> list[tuple[str, str]]:
    """Deterministic (source, target) pairs for ``task``, at most ``n``.

    * reconstruction: ``(a, a)`` for the first ``n`` annotated images (all-missing rows skipped);
    * pose_transfer: the first ``n`` distinct pairs of ``synth-pairs-{split}.csv`` (same identity,
      as the PG2 task is defined, orig §2.6);
    * fg_swap / bg_swap: image *i* with the first image at or after *i + N/2* (cyclically) of
      another identity, so the swapped factor really differs.
    """
    from dpiglib.data.annotations import find_dataset_files, read_pairs_csv
    from dpiglib.metrics.evaluation import unique_pairs

    _check_task(task)
    root = Path(root)
    names = _usable_names(root, split)
    if not names:
        raise ValueError(f"no annotated images in {root}/{split}")
    if task == "reconstruction":
        return [(a, a) for a in names[:n]]
    if task == "pose_transfer":
        files = find_dataset_files(root, split, "synth")
        rows = read_pairs_csv(files.pairs)
        keep, _ = unique_pairs(rows, n)
        return [rows[i] for i in keep]
    ident = identities or {nm: int(nm.split("_")[0]) for nm in names}
    out, N = [], len(names)
    for i in range(min(n, N)):
        a = names[i]
        for k in range(N):
            b = names[(i + N // 2 + k) % N]
            if ident[b] != ident[a]:
                out.append((a, b))
                break
        else:
            raise ValueError(f"{task} needs images of at least two identities in {root}/{split}")
    return out


def _score_rows(task: str, preds: list[np.ndarray], truths: list, lpips_net, device: str
                ) -> list[dict[str, Any]]:
    from dpiglib.metrics.ssim import ssim_variant

    ssims, l1, l1_fg, l1_bg = [], [], [], []
    for p, t in zip(preds, truths):
        if p.shape != t.image.shape:
            raise ValueError(f"{task}: prediction {p.shape} and true render {t.image.shape} differ "
                             "in size")
        ssims.append(ssim_variant("clean", p, t.image)[0])
        d = np.abs(p.astype(np.float64) - t.image.astype(np.float64)).mean(axis=2) / 255.0
        m = t.fg_mask.astype(bool)
        l1.append(d.mean())
        if m.any():
            l1_fg.append(d[m].mean())
        if (~m).any():
            l1_bg.append(d[~m].mean())
    rows = [("SSIM (clean)", ssims), ("L1", l1), (FG_L1, l1_fg),
            ("L1 on true background", l1_bg)]
    if lpips_net is not None:
        from dpiglib.metrics.lpips import lpips_distances

        rows.append(("LPIPS (alex v0.1)",
                     lpips_distances(lpips_net, preds, [t.image for t in truths], device).tolist()))
    return [{"task": task, "metric": m, "value": float(np.mean(v)) if v else float("nan"),
             "std": float(np.std(v)) if v else float("nan"), "count": len(v)} for m, v in rows]


def leakage_scores(model: GroundTruthModel, gt, pairs: Sequence[tuple[str, str]],
                   recon: list[np.ndarray] | None = None,
                   swapped: dict[str, list[np.ndarray]] | None = None,
                   factors: Sequence[str] = ("bg", "fg", "pose")) -> list[dict[str, Any]]:
    """Per factor: change on the other factors' true pixels (leak) and on its own (intended).

    Args:
        model: the model (its reconstruction and task outputs are compared).
        gt: :class:`~dpiglib.synth.dataset.SynthGroundTruth` of the split.
        pairs: (a, b) pairs of different identities.
        recon: precomputed ``reconstruction`` outputs for the ``a`` images (optional).
        swapped: precomputed outputs per task for ``pairs`` (optional).
        factors: which factors to change.

    Returns:
        rows ``{"task": "leakage: <factor>", "metric", "value", "std", "count"}``.
    """
    pairs = list(pairs)
    if recon is None:
        recon = model.predict_batch("reconstruction", [(a, a) for a, _ in pairs])
    rows = []
    for f in factors:
        task = _LEAK_TASK[f]
        try:
            outs = (swapped or {}).get(task) or model.predict_batch(task, pairs)
        except ValueError as exc:  # e.g. no background factor
            rows.append({"task": f"leakage: {f}", "metric": "unavailable", "value": float("nan"),
                         "std": float("nan"), "count": 0, "note": str(exc)})
            continue
        leak, own = [], []
        for (a, b), r, o in zip(pairs, recon, outs):
            d = np.abs(o.astype(np.float64) - r.astype(np.float64)).mean(axis=2) / 255.0
            m_a = gt.render(a).fg_mask.astype(bool)
            m_t = true_render(gt, task, a, b).fg_mask.astype(bool)
            if f == "bg":
                other, mine = m_a, ~m_a
            elif f == "fg":
                other, mine = ~m_a & ~m_t, m_a & m_t
            else:
                other, mine = ~m_a & ~m_t, m_a | m_t
            if other.any():
                leak.append(d[other].mean())
            if mine.any():
                own.append(d[mine].mean())
        what = {"bg": "foreground", "fg": "background", "pose": "background"}[f]
        for metric, v in ((f"leak: mean |Δ| on true {what} (should be 0)", leak),
                          ("intended: mean |Δ| on the factor's own pixels", own)):
            rows.append({"task": f"leakage: {f}", "metric": metric,
                         "value": float(np.mean(v)) if v else float("nan"),
                         "std": float(np.std(v)) if v else float("nan"), "count": len(v)})
    return rows


def ground_truth_scores(model: GroundTruthModel, root: str | os.PathLike, split: str = "test",
                        n: int = 32, tasks: Sequence[str] = TASKS, leakage: bool = True,
                        lpips: bool = False, weights_dir: str | os.PathLike | None = None,
                        device: str = "cpu") -> pd.DataFrame:
    """Score ``model`` on every task against SynthPerson's true renders; one long DataFrame.

    Args:
        model: a :class:`GroundTruthModel`.
        root: a SynthPerson dataset (``synth-complete.json``, factors CSV).
        split: ``"test"`` (held-out identities) or ``"train"``.
        n: pairs per task (small-sample numbers carry their ``count``).
        tasks: subset of :data:`TASKS`.
        leakage: add the per-factor leakage rows (needs ``reconstruction``; pairs of fg/bg swap).
        lpips: add LPIPS when its user weights exist (silently skipped otherwise).
        weights_dir, device: for LPIPS.

    Returns:
        DataFrame with columns ``model, task, metric, value, std, count`` (+ ``note``).
    """
    from dpiglib.synth.dataset import SynthGroundTruth

    for t in tasks:
        _check_task(t)
    gt = SynthGroundTruth(root, split)
    net = None
    if lpips:
        from dpiglib.metrics.lpips import lpips_model

        net, _ = lpips_model(None if weights_dir is None else str(weights_dir), device)
    rows: list[dict[str, Any]] = []
    cross = ground_truth_pairs(root, split, "fg_swap", n)
    outputs: dict[str, list[np.ndarray]] = {}
    recon_pairs: list[tuple[str, str]] = []
    for task in tasks:
        pairs = cross if task in ("fg_swap", "bg_swap") else ground_truth_pairs(root, split, task, n)
        try:
            preds = model.predict_batch(task, pairs)
        except ValueError as exc:
            rows.append({"task": task, "metric": "unavailable", "value": float("nan"),
                         "std": float("nan"), "count": 0, "note": str(exc)})
            continue
        outputs[task] = preds
        if task == "reconstruction":
            recon_pairs = pairs
        truths = [true_render(gt, task, a, b) for a, b in pairs]
        rows += _score_rows(task, preds, truths, net, device)
    if leakage:
        want = [(a, a) for a, _ in cross]
        recon = (outputs["reconstruction"] if "reconstruction" in outputs and recon_pairs == want
                 else model.predict_batch("reconstruction", want))
        rows += leakage_scores(model, gt, cross, recon,
                               {t: outputs[t] for t in ("fg_swap", "bg_swap") if t in outputs})
    df = pd.DataFrame(rows)
    df.insert(0, "model", getattr(model, "name", type(model).__name__))
    if "note" not in df.columns:
        df["note"] = ""
    df["note"] = df["note"].fillna("")
    return df[["model", "task", "metric", "value", "std", "count", "note"]]


#: The four numbers :func:`ground_truth_ratios` returns (the pretrained models record them).
RATIO_NAMES: tuple[str, ...] = ("pose_transfer_l1", "fg_swap_l1", "bg_swap_leak", "fg_swap_leak")


def score_value(df: pd.DataFrame, task: str, metric: str | None = None,
                 prefix: str | None = None, which: str = "scores") -> float:
    """The one ``value`` of (task, metric) in a :func:`ground_truth_scores` frame.

    ``metric`` names the metric exactly (e.g. :data:`FG_L1`); ``prefix`` matches its start
    instead (the leakage rows' ``"leak: …"``). A missing or repeated row is a ValueError that
    says how to score; ``which`` names the frame in it.
    """
    rows = df[df["task"] == task]
    rows = rows[rows["metric"] == metric] if metric is not None else \
        rows[rows["metric"].astype(str).str.startswith(prefix)]
    if len(rows) != 1:
        what = metric if metric is not None else f"{prefix}…"
        how = ("leakage=True and tasks with fg_swap and bg_swap" if task.startswith("leakage")
               else f"tasks including {task!r}")
        raise ValueError(f"{which}: expected one row of task {task!r}, metric {what!r}, found "
                         f"{len(rows)}; score with ground_truth_scores(..., {how})")
    return float(rows["value"].iloc[0])


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return float("inf") if num > 0 else float("nan")
    return float(num / den)


def ground_truth_ratios(model_scores: pd.DataFrame, copy_scores: pd.DataFrame) -> dict[str, float]:
    """Four scale-free numbers from two :func:`ground_truth_scores` frames (ratios of means).

    Args:
        model_scores: the model's scores (with the leakage rows).
        copy_scores: :class:`CopySourceModel`'s scores on the same data, split and pairs.

    Returns:
        ``{"pose_transfer_l1", "fg_swap_l1", "bg_swap_leak", "fg_swap_leak"}``:

        * ``pose_transfer_l1``: the model's mean L1 on the true foreground of ``pose_transfer``
          ÷ copy-source's (below 1: the model beats handing back the source image);
        * ``fg_swap_l1``: the same for ``fg_swap``;
        * ``bg_swap_leak``: the model's ``leakage: bg`` leak ÷ its intended change (how much a
          background swap moves the person, per unit of background change; 0 is ideal);
        * ``fg_swap_leak``: the same for ``leakage: fg`` (how much a person swap moves the
          background).

        A zero denominator gives ``inf`` (nonzero numerator) or ``nan``.

    Raises:
        ValueError: a needed row is missing (the message names it).
    """
    out = {}
    for key, task in (("pose_transfer_l1", "pose_transfer"), ("fg_swap_l1", "fg_swap")):
        out[key] = _ratio(score_value(model_scores, task, FG_L1, which="model_scores"),
                          score_value(copy_scores, task, FG_L1, which="copy_scores"))
    for key, factor in (("bg_swap_leak", "bg"), ("fg_swap_leak", "fg")):
        task = f"leakage: {factor}"
        out[key] = _ratio(score_value(model_scores, task, prefix="leak:", which="model_scores"),
                          score_value(model_scores, task, prefix="intended:",
                                       which="model_scores"))
    return out
