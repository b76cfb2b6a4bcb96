"""Sampling API: the trained Stage-I and Stage-II models behind one object (orig §1, orig §4.4, orig §5).

At test time every factor of a person image comes either from a real image (the Stage-I
encoders; the real keypoints for pose) or from noise through the Stage-II mapping network,
e = Φ(z) with z ~ N(0, σ²), σ = 0.2 (orig §4.1, orig B13). A sampled pose embedding is decoded by the
pose auto-encoder's decoder to (row, col, visible), rasterised to disk heatmaps and fed to the
Stage-I generator with the appearance embeddings (orig §4.4). :class:`Sampler` does that for any
subset of factors (``fg``, ``bg``, ``pose`` on Market; ``app``, ``pose`` on DeepFashion), and on
top: pose-guided generation (the PG2 task, orig §5 item 1), factor swaps, inversion
z* = argmin ‖Φ(z) − e(x)‖² (orig §5 item 4, :mod:`dpiglib.sampling.latent`), interpolation in noise or
embedding space, and the virtual re-ID export (orig §5 item 3, :mod:`dpiglib.sampling.reid_export`).

orig B1: the released testers decode *encoder(real pose)* where they claim to sample a pose. Here a
sampled pose is Φ_pose(z); ``decode_real_pose=True`` (``EvalConfig.decode_real_pose``) reproduces
the released behaviour: a random real pose from the pose bank, passed through the pose AE.

Determinism: each call takes ``seed`` or ``generator``. With ``seed`` every factor draws from its
own stream (seed, factor), so "fg with seed 3" is the same foreground whichever other factors are
sampled beside it; with ``generator`` the factors draw one after another from it. Noise is drawn
on the CPU, so a seed gives the same z on every device.
"""

from __future__ import annotations

import os

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

from dpiglib.core.checkpoint import CheckpointError
from dpiglib.config import RunConfig
from dpiglib.data.datasets import prepare_batch
from dpiglib.models.mapping import factor_dims
from dpiglib.data.pose import (denormalize_rcv, normalize_rcv, part_boxes_batch, pose_heatmap,
                               validate_rcv)
from dpiglib.core.runtime import resolve_device
from dpiglib.sampling.factors import SAMPLE, Factors, Stage2MissingError, factor_generator

__all__ = ["Factors", "Sampler", "Stage2MissingError", "factor_generator", "SAMPLE"]

def _pose_bank_root(cfg: RunConfig, run_dir: str | os.PathLike,
                    data_root: str | os.PathLike) -> Path | None:
    """The dataset root of a run's pose bank, or None when there is no dataset to read.

    Missing (a real-data run without ``data_root``, no folder, no ``*-annotation-train.csv``)
    is None; a dataset that is there but broken is left to :meth:`Sampler.load_pose_bank`,
    which raises naming the file.
    """
    from dpiglib.config import ConfigError
    from dpiglib.data.prepare import dataset_root

    try:
        root = dataset_root(cfg, run_dir, data_root)
    except ConfigError:  # real-data preset and no data_root given
        return None
    if not root.is_dir() or not any(root.glob("*-annotation-train.csv")):
        return None
    return root


def _seed_from_global() -> int:
    # No seed and no generator: follow torch's global RNG, so torch.manual_seed still reproduces.
    return int(torch.randint(0, 2**31 - 1, (1,)).item())


class Sampler:
    """Sample, swap, transfer, invert and interpolate with a trained DPIG (orig §5).

    Args:
        stage1: :class:`dpiglib.models.stage1.Stage1Model` (encoder, generator, discriminator).
        pose_ae: :class:`dpiglib.models.pose_ae.PoseAutoEncoder` or None (then pose embeddings, sampled
            poses and pose interpolation in embedding space are unavailable).
        stage2: :class:`dpiglib.models.stage2.Stage2Model`, an ``nn.ModuleDict`` of Φ keyed by factor,
            or None (usable right after Stage-I: every factor must then come from a real image).
        cfg: the run config (image size, heatmap radius, σ of z, ``eval.decode_real_pose``).
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"mps"``.
        pose_bank: optional (N, 18, 3) real poses (the orig B1 option and the re-ID export use them).
        pose_bank_names: optional image names of the bank's poses.

    Attributes:
        factor_names: ``("fg", "bg", "pose")`` (Market) or ``("app", "pose")`` (DF).
        appearance_names: the factors that are concatenated into the generator's embedding.
    """

    def __init__(self, stage1: nn.Module, pose_ae: nn.Module | None = None,
                 stage2: nn.Module | None = None, cfg: RunConfig | None = None,
                 device: str | torch.device = "cpu", pose_bank: Any = None,
                 pose_bank_names: Sequence[str] | None = None):
        if cfg is None:
            raise ValueError("Sampler needs the run config (cfg=...): image size, heatmap radius "
                             "and the noise σ come from it")
        self.cfg = cfg
        self.device = resolve_device(device)
        self.size = cfg.data.image_size
        self.factor_names = tuple(factor_dims(cfg.model))
        self.appearance_names = tuple(f for f in self.factor_names if f != "pose")
        self.dims = {f: d for f, (d, _) in factor_dims(cfg.model).items()}
        self.stage1 = stage1.to(self.device).eval().requires_grad_(False)
        self.encoder, self.generator = stage1.encoder, stage1.generator
        self.discriminator = stage1.discriminator
        self.pose_ae = None if pose_ae is None else pose_ae.to(self.device).eval().requires_grad_(False)
        phi = getattr(stage2, "phi", stage2)
        self.phi = None if phi is None else phi.to(self.device).eval().requires_grad_(False)
        self.noise_std = float(getattr(stage2, "noise_std", cfg.stage2.noise_std))
        self.decode_real_pose = bool(cfg.eval.decode_real_pose)
        self.pose_bank: torch.Tensor | None = None
        self.pose_bank_names: list[str] | None = None
        if pose_bank is not None:
            self.set_pose_bank(pose_bank, pose_bank_names)

    # ------------------------------------------------------------------------------------------
    # Loading
    # ------------------------------------------------------------------------------------------

    @classmethod
    def from_run_dir(cls, run_dir: str | os.PathLike, device: str | torch.device = "auto",
                     data_root: str | os.PathLike = "", stage2: bool | None = None) -> "Sampler":
        """Load the newest Stage-I (+ pose AE) and, when present, Stage-II of a run directory.

        Args:
            run_dir: the run directory (``stage1/``, ``stage2/``).
            device: where to run.
            data_root: dataset root for the pose bank ("" = the run's own, see
                :func:`dpiglib.data.prepare.dataset_root`); a missing dataset (no folder, or no
                ``*-annotation-train.csv`` in it) just leaves no bank.
            stage2: True = require Stage-II (raise if missing), False = don't load it,
                None = load it if there is one.

        Raises:
            CheckpointError: no Stage-I; or Stage-II required and missing / trained against
                other Stage-I weights.
            DatasetError: the dataset is there but its train annotation cannot be used (the
                message names the file).
        """
        from dpiglib.training.stage1 import load_stage1

        stage1, pae, cfg = load_stage1(run_dir, device)
        s2 = None
        if stage2 is not False:
            from dpiglib.training.stage2 import load_stage2
            try:
                s2 = load_stage2(run_dir, stage1=(stage1, pae), device=device)
            except CheckpointError as exc:
                if stage2 or "no Stage-II checkpoint" not in str(exc):
                    raise
        sampler = cls(stage1, pae, s2, cfg, device)
        root = _pose_bank_root(cfg, run_dir, data_root)
        if root is not None:  # no dataset here: orig B1 and export_reid then need explicit poses
            sampler.load_pose_bank(root)
        return sampler

    def set_pose_bank(self, rcvs: Any, names: Sequence[str] | None = None) -> None:
        """Use ``rcvs`` (N, 18, 3) real poses for the orig B1 option and the re-ID export."""
        bank = torch.as_tensor(np.asarray(rcvs, dtype=np.float32)).reshape(-1, 18, 3)
        validate_rcv(bank, "pose_bank")
        if len(bank) == 0:
            raise ValueError("pose_bank: no poses given")
        self.pose_bank = bank
        self.pose_bank_names = list(names) if names is not None else None

    def load_pose_bank(self, data_root: str | os.PathLike, split: str = "train") -> int:
        """Fill the pose bank from ``{prefix}-annotation-{split}.csv`` (all-missing rows left out)."""
        from dpiglib.data.annotations import DatasetError
        from dpiglib.data.annotations import (find_dataset_files, is_all_missing,
                                              read_annotation_csv)

        files = find_dataset_files(data_root, split, self.cfg.data.dataset)
        ann = {n: r for n, r in read_annotation_csv(files.annotation).items()
               if not is_all_missing(r)}
        if not ann:
            raise DatasetError("no pose with a visible keypoint for the pose bank", files.annotation)
        self.set_pose_bank(np.stack(list(ann.values())), list(ann))
        return len(ann)

    # ------------------------------------------------------------------------------------------
    # Factors from real images, from noise, and poses
    # ------------------------------------------------------------------------------------------

    def _batch(self, items: Any) -> dict[str, Any]:
        """A dataset item, a list of items or a collated batch → prepared batch on the device."""
        if isinstance(items, Mapping) and "image" in items:
            b = dict(items)
            if torch.as_tensor(b["image"]).dim() == 3:  # one item
                b = {k: (v[None] if torch.is_tensor(v) else [v]) for k, v in b.items()}
        elif isinstance(items, (list, tuple)) and items and isinstance(items[0], Mapping):
            keys = [k for k in ("image", "rcv", "boxes", "box_vis") if k in items[0]]
            b = {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in keys}
            b["name"] = [it.get("name", "") for it in items]
        else:
            raise TypeError(f"expected a dataset item, a list of items or a batch dict with "
                            f"'image' and 'rcv'; got {type(items).__name__}")
        if "rcv" not in b:
            raise ValueError("the item/batch has no 'rcv' (keypoints): the encoder needs part "
                             "boxes and the pose mask")
        b["rcv"] = torch.as_tensor(b["rcv"], dtype=torch.float32)
        if "boxes" not in b or "box_vis" not in b:
            b["boxes"], b["box_vis"] = part_boxes_batch(b["rcv"], self.size, self.cfg.data.box_style)
        return prepare_batch({k: b[k] for k in ("image", "rcv", "boxes", "box_vis")},
                             self.cfg.data, self.device)

    @torch.no_grad()
    def encode(self, items: Any) -> Factors:
        """Embeddings of real images (orig §3.1-3.2) and their real poses.

        Args:
            items: a :class:`~dpiglib.data.datasets.PersonDataset` item, a list of items, or a batch dict
                with ``image`` (B, 3, H, W) in [−1, 1] and ``rcv`` (B, 18, 3) (boxes are computed
                from ``rcv`` when missing; the pose mask always is).

        Returns:
            :class:`Factors` with the appearance embeddings, ``pose`` = pose-encoder(rcv) when a
            pose AE is loaded, the real ``rcv`` and its heatmap.
        """
        b = self._batch(items)
        e_fg, e_bg = self.encoder(b["image"], b["boxes"], b["box_vis"], b["mask"])
        emb = {self.appearance_names[0]: e_fg}
        if e_bg is not None:
            emb["bg"] = e_bg
        if self.pose_ae is not None:
            emb["pose"] = self.pose_ae.encode(normalize_rcv(b["rcv"], self.size))
        return Factors(emb, b["rcv"], {}, b["heatmap"])

    def require_phi(self, factor: str) -> nn.Module:
        if self.phi is None or factor not in self.phi:
            have = "no Stage-II at all" if self.phi is None else f"Φ for {', '.join(self.phi)} only"
            raise Stage2MissingError(
                f"factor {factor!r} is to be drawn from noise (Φ_{factor}(z)), but this Sampler has "
                f"{have}: Stage-II is missing. Train it (notebook 03 / `dpig train stage2`) or "
                f"take {factor!r} from a real image")
        return self.phi[factor]

    def _require_pose_ae(self, what: str) -> nn.Module:
        if self.pose_ae is None:
            raise CheckpointError(f"{what} needs the pose auto-encoder, and none is loaded "
                                  "(train it with train_stage1(..., model='pose'))")
        return self.pose_ae

    @torch.no_grad()
    def decode_pose(self, e_pose: torch.Tensor) -> torch.Tensor:
        """Pose embedding (B, 32) → pixel rcv (B, 18, 3): decoder, de-normalise, clip (orig §4.4)."""
        pae = self._require_pose_ae("decode_pose")
        return denormalize_rcv(pae.decode(e_pose.to(self.device)).float(), self.size)

    def pose_heatmaps(self, rcv: Any) -> torch.Tensor:
        """(B, 18, 3) rcv → (B, 18, H, W) disk heatmap in {−1, +1} (radius ``heatmap_radius``)."""
        rcv = torch.as_tensor(np.asarray(rcv, np.float32) if not torch.is_tensor(rcv) else rcv)
        return pose_heatmap(rcv.to(self.device, torch.float32), self.size,
                            self.cfg.data.heatmap_radius)

    @torch.no_grad()
    def sample_factors(self, n: int, factors: Sequence[str] | None = None, seed: int | None = None,
                       generator: torch.Generator | None = None,
                       decode_real_pose: bool | None = None) -> Factors:
        """Draw ``n`` values of ``factors`` (default all) from noise: e = Φ(z), z ~ N(0, σ²).

        A sampled pose is decoded to ``rcv`` (orig §4.4). With ``decode_real_pose`` (orig B1, default
        ``cfg.eval.decode_real_pose``) the pose is instead AE(random real pose from the bank).

        Returns:
            :class:`Factors` holding only the requested embeddings (and their ``z``); ``rcv`` is
            the sampled pose, or zeros (no keypoint) when pose was not requested.
        """
        factors = tuple(self.factor_names if factors is None else factors)
        bad = [f for f in factors if f not in self.factor_names]
        if bad:
            raise ValueError(f"unknown factor(s) {bad}; this model has {self.factor_names}")
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        b1 = self.decode_real_pose if decode_real_pose is None else bool(decode_real_pose)
        if seed is None and generator is None:
            seed = _seed_from_global()
        emb, zs = {}, {}
        rcv = torch.zeros(n, 18, 3, device=self.device)
        for f in self.factor_names:  # fixed order: a shared generator is consumed reproducibly
            if f not in factors:
                continue
            gen = generator if generator is not None else factor_generator(seed, f)
            if f == "pose" and b1:
                rcv, emb["pose"] = self._b1_pose(n, gen)
                continue
            phi = self.require_phi(f)
            z = torch.randn(n, self.dims[f], generator=gen, device=gen.device) * self.noise_std
            zs[f] = z.to(self.device)
            emb[f] = phi(zs[f])
            if f == "pose":
                rcv = self.decode_pose(emb[f])
        return Factors(emb, rcv, zs, self.pose_heatmaps(rcv))

    def _b1_pose(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """B1 (released testers): AE(encoder(real pose)) of ``n`` random real poses."""
        if self.pose_bank is None:
            raise ValueError("decode_real_pose=True (orig B1) decodes real poses, but the Sampler has "
                             "no pose bank: call set_pose_bank(rcvs) or load_pose_bank(data_root)")
        pae = self._require_pose_ae("decode_real_pose")
        idx = torch.randint(0, len(self.pose_bank), (n,), generator=gen, device=gen.device)
        real = self.pose_bank[idx.cpu()].to(self.device)
        e = pae.encode(normalize_rcv(real, self.size))
        return self.decode_pose(e), e

    # ------------------------------------------------------------------------------------------
    # Composing and rendering
    # ------------------------------------------------------------------------------------------

    def _source_factors(self, src: Any, cache: dict) -> Factors:
        if isinstance(src, Factors):
            return src
        key = id(src)
        if key not in cache:
            cache[key] = (src, self.encode(src))  # keep src alive so its id is not reused
        return cache[key][1]

    @torch.no_grad()
    def compose(self, n: int | None = None, seed: int | None = None,
                generator: torch.Generator | None = None, decode_real_pose: bool | None = None,
                **sources: Any) -> Factors:
        """Assemble the factors of a batch, each from its own source.

        Args:
            n: batch size (default: the largest batch among the real sources, else 1). Sources
                of batch 1 are tiled to ``n`` (the testers tile the first image, orig §5 item 2).
            seed, generator: for the sampled factors (module docstring).
            decode_real_pose: orig B1 option for a sampled pose (default ``cfg.eval.decode_real_pose``).
            **sources: per factor (``fg``/``bg``/``pose``, DF ``app``/``pose``; missing = sample):
                ``"sample"``; a real item, list of items or batch; a :class:`Factors`; an
                embedding tensor (B, D); for ``pose`` also an rcv array/tensor (18, 3) or
                (B, 18, 3) in pixels.

        Returns:
            :class:`Factors` of batch ``n`` with heatmaps.
        """
        bad = [f for f in sources if f not in self.factor_names]
        if bad:
            raise ValueError(f"unknown factor(s) {bad}; this model's factors are "
                             f"{', '.join(self.factor_names)}")
        cache: dict = {}
        given: dict[str, tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]] = {}
        for f in self.factor_names:
            src = sources.get(f, SAMPLE)
            if isinstance(src, str):
                if src != SAMPLE:
                    raise ValueError(f"{f}={src!r}: the only string source is {SAMPLE!r}")
                continue
            given[f] = self._resolve(f, src, cache)  # (embedding, rcv, z)
        sizes = {f: (v[0] if v[0] is not None else v[1]).shape[0] for f, v in given.items()}
        if n is None:
            n = max(sizes.values(), default=1)
        for f, s in sizes.items():
            if s not in (1, n):
                raise ValueError(f"{f}: source has batch {s}, but the batch is {n} (use batch 1 "
                                 f"to tile one source over the batch, or equal sizes)")
        todo = [f for f in self.factor_names if f not in given]
        drawn = (self.sample_factors(n, todo, seed, generator, decode_real_pose) if todo else None)
        emb: dict[str, torch.Tensor] = {}
        zs: dict[str, torch.Tensor] = {}
        rcv = None
        tile = lambda t: t.expand(n, *t.shape[1:]) if t.shape[0] == 1 else t  # noqa: E731
        for f in self.factor_names:
            if f in given:
                e, r, z = given[f]
                if e is not None:
                    emb[f] = tile(e.to(self.device))
                if z is not None:
                    zs[f] = tile(z.to(self.device))
                if f == "pose":
                    rcv = tile(r.to(self.device))
            else:
                emb[f] = drawn.embeddings[f]
                if f in drawn.z:
                    zs[f] = drawn.z[f]
                if f == "pose":
                    rcv = drawn.rcv
        rcv = rcv.contiguous()
        return Factors(emb, rcv, zs, self.pose_heatmaps(rcv))

    def _resolve(self, f: str, src: Any, cache: dict):
        """One non-sampled source → (embedding or None, rcv or None, z or None)."""
        array_like = torch.is_tensor(src) or isinstance(src, np.ndarray) or (
            isinstance(src, (list, tuple)) and len(src) > 0 and not isinstance(src[0], Mapping))
        if f == "pose" and array_like:
            t = torch.as_tensor(np.asarray(src, np.float32) if not torch.is_tensor(src) else src)
            t = t.to(self.device, torch.float32)
            if t.dim() == 2 and t.shape == (18, 3):
                t = t[None]
            if t.dim() == 3:  # pixel keypoints
                validate_rcv(t, "pose")
                e = (self.pose_ae.encode(normalize_rcv(t, self.size))
                     if self.pose_ae is not None else None)
                return e, t, None
            if t.dim() == 2 and t.shape[1] == self.dims["pose"]:  # a pose embedding
                return t, self.decode_pose(t), None
            raise ValueError(f"pose: expected rcv (18, 3) / (B, 18, 3) in pixels or an embedding "
                             f"(B, {self.dims['pose']}); got shape {tuple(t.shape)}")
        if torch.is_tensor(src):
            if src.dim() != 2 or src.shape[1] != self.dims[f]:
                raise ValueError(f"{f}: an embedding tensor must be (B, {self.dims[f]}), got "
                                 f"{tuple(src.shape)}")
            return src, None, None
        fac = self._source_factors(src, cache)
        if f == "pose":
            return fac.embeddings.get("pose"), fac.rcv, fac.z.get("pose")
        if f not in fac.embeddings:
            raise ValueError(f"{f}: the given Factors hold no {f!r} embedding")
        return fac.embeddings[f], None, fac.z.get(f)

    @torch.no_grad()
    def render(self, factors: Factors, clip: bool = True) -> torch.Tensor:
        """G(concat(appearance embeddings), heatmap(rcv)) → (B, 3, H, W) (orig §3.3-3.4).

        Args:
            factors: from :meth:`encode`, :meth:`sample_factors` or :meth:`compose`.
            clip: clamp to [−1, 1] (display; the raw output is unbounded).
        """
        emb = torch.cat([factors.embeddings[f].to(self.device) for f in self.appearance_names], 1)
        hm = factors.heatmap if factors.heatmap is not None else self.pose_heatmaps(factors.rcv)
        img = self.generator(emb, hm.to(self.device)).float()
        return img.clamp(-1, 1) if clip else img

    def generate(self, n: int | None = None, seed: int | None = None,
                 generator: torch.Generator | None = None, decode_real_pose: bool | None = None,
                 return_factors: bool = False, **sources: Any):
        """Images with each factor from noise or from a given source (see :meth:`compose`).

        Examples: ``generate(fg=item)`` (this person, new background and pose);
        ``generate(bg=item, pose=item)`` (a new person in this pose on this background);
        ``generate(pose=rcv, fg=a, bg=a)`` (pose-guided generation).

        Returns:
            (B, 3, H, W) in [−1, 1], or ``(images, factors)`` with ``return_factors``.
        """
        fac = self.compose(n, seed, generator, decode_real_pose, **sources)
        img = self.render(fac)
        return (img, fac) if return_factors else img

    def sample(self, n: int, seed: int | None = None, generator: torch.Generator | None = None,
               **sources: Any) -> torch.Tensor:
        """``n`` images; factors not given are sampled (``sample(8, seed=0)``: all sampled)."""
        return self.generate(n, seed, generator, **sources)

    def pose_transfer(self, source: Any, target: Any) -> torch.Tensor:
        """PG2 task (orig §5 item 1): the source's appearance in the target's pose.

        Args:
            source: real item(s) or :class:`Factors` (appearance: fg+bg, or app).
            target: real item(s) / :class:`Factors` (their pose) or rcv (B, 18, 3) in pixels.
        """
        return self.generate(**{f: source for f in self.appearance_names}, pose=target)

    def swap(self, a: Any, b: Any, factor: str | Sequence[str]) -> torch.Tensor:
        """``a`` with ``factor`` (one name or several) taken from ``b``; both items or Factors."""
        names = (factor,) if isinstance(factor, str) else tuple(factor)
        bad = [f for f in names if f not in self.factor_names]
        if bad:
            raise ValueError(f"swap: unknown factor(s) {bad}; choose from {self.factor_names}")
        return self.generate(**{f: (b if f in names else a) for f in self.factor_names})

    @torch.no_grad()
    def discriminator_score(self, images: torch.Tensor) -> torch.Tensor:
        """Mean Stage-I D logit per image (B,), the re-ID export's score (orig §5 item 3).

        The D normalises with batch statistics (orig §3.5), so a score depends on its batch.
        """
        return self.discriminator(images.to(self.device)).float().mean(dim=1)

    # ------------------------------------------------------------------------------------------
    # Inversion, interpolation, export (the algorithms live in latent.py and reid_export.py)
    # ------------------------------------------------------------------------------------------

    def invert(self, items: Any, factors: Sequence[str] | None = None, steps: int = 1000,
               lr: float = 1e-2, seed: int | None = None,
               generator: torch.Generator | None = None):
        """z* = argmin_z ‖Φ(z) − e(x)‖² per factor with Φ frozen (orig §5 item 4).

        Args:
            items: real item(s) or :class:`Factors` (their embeddings are the targets).
            factors: default every factor with a Φ and a target embedding.
            steps, lr: Adam steps and learning rate (orig §5: "≈1,000 steps, lr ≈ 1e-2").
            seed, generator: the start z ~ N(0, σ²).

        Returns:
            :class:`dpiglib.sampling.latent.Inversion` (``z``, ``embeddings`` = Φ(z*), ``targets``,
            ``residual`` per sample, ``history`` per step; residual = ‖Φ(z*) − e‖² / D).
        """
        from dpiglib.sampling.latent import invert_factors

        fac = items if isinstance(items, Factors) else self.encode(items)
        if factors is None:
            factors = [f for f in self.factor_names if f in fac.embeddings
                       and self.phi is not None and f in self.phi]
        if not factors:
            raise Stage2MissingError("invert: no factor has both a Stage-II Φ and a target "
                                     "embedding (Stage-II missing?)")
        phis = {f: self.require_phi(f) for f in factors}
        if seed is None and generator is None:
            seed = _seed_from_global()
        gens = {f: generator if generator is not None else factor_generator(seed, f)
                for f in factors}
        return invert_factors(phis, {f: fac.embeddings[f] for f in factors}, steps, lr,
                              self.noise_std, gens)

    def interpolate(self, a: Any, b: Any, steps: int = 8, factors: Sequence[str] | str | None = None,
                    space: str = "embedding", method: str = "linear", invert_steps: int = 300,
                    seed: int | None = None, render: bool = True):
        """Walk from ``a`` to ``b`` in ``steps`` points, per factor (orig §5 item 4).

        Args:
            a, b: one real item each, or :class:`Factors` of batch 1 (e.g. from
                :meth:`sample_factors`).
            steps: number of points, endpoints included (≥ 2).
            factors: which factors move (default all); the others stay ``a``'s.
            space: ``"embedding"`` (mix e; a moving pose mixes e_pose and decodes it, endpoints
                keep the inputs' own keypoints) or ``"noise"`` (mix z, then Φ; inputs without z
                are inverted first with ``invert_steps`` Adam steps).
            method: ``"linear"`` or ``"slerp"`` (the repo's unused ``utils.slerp``).

        Returns:
            :class:`dpiglib.sampling.latent.Interpolation` (``t``, ``factors``, ``images`` or None,
            ``space``, ``method``, ``inversion_residual`` for inverted inputs). At t = 0 and 1 the
            mixed vectors equal the inputs' exactly.
        """
        from dpiglib.sampling.latent import interpolate_factors

        return interpolate_factors(self, a, b, steps, factors, space, method, invert_steps, seed,
                                   render)

    def export_reid(self, out_dir: str | os.PathLike, identities: int, images_per_identity: int,
                    seed: int = 0, poses: Any = None, keep_best: tuple[int, int] | None = None,
                    quality: int = 95, overwrite: bool = False) -> dict[str, Any]:
        """Write a virtual re-ID set in Market-1501 format (orig §5 item 3); see
        :func:`dpiglib.sampling.reid_export.export_reid` for the arguments and layout."""
        from dpiglib.sampling.reid_export import export_reid

        return export_reid(self, out_dir, identities, images_per_identity, seed=seed, poses=poses,
                           keep_best=keep_best, quality=quality, overwrite=overwrite)
