"""The interactive sampling explorer of notebook 04 (orig §5 test-time features, hands on).

The explorer recombines the factors of DPIG live: each factor (``fg``, ``bg``, ``pose``; DF
``app``, ``pose``) comes from noise with a seed (Φ(z), Stage-II) or from a picked real image, the
pose can be nudged joint by joint, two images can be interpolated and a picked image inverted.

Every callback is a plain function over an :class:`ExplorerState` that returns arrays, so it is
tested without a browser; :func:`build_explorer` only wires ipywidgets controls to them (this is
the one module that imports ipywidgets, lazily). The update path is kept lean for < 150 ms per
change on a 2-core CPU: picked images are encoded once and cached, a resample runs one Φ, and
every change ends in one generator forward at batch 1; unchanged factors are never recomputed.
Under papermill :func:`static_views` renders the same views as static figures. Every panel
carries a caption saying where it comes from (a real image's index, or Φ(z) and its seed).

:func:`explorer_model` chooses what the explorer shows: on ``synth-tiny`` the shipped
pretrained model with the held-out SynthPerson people it never saw (``explore_model =
"pretrained"``), or the run's own model and test split (``"run"``).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from dpiglib.data.pose import KEYPOINT_NAMES
from dpiglib.sampling.factors import Factors, Stage2MissingError
from dpiglib.sampling.sampler import Sampler
from dpiglib.data.datasets import to_uint8

__all__ = ["ExplorerState", "new_state", "resample", "pick_real", "move_joint", "reset_joints",
           "current_factors", "offset_pose", "explorer_panels", "render_explorer", "render_png",
           "interpolation_strip", "invert_image", "build_explorer", "static_views",
           "ExplorerModel", "explorer_model", "pretrained_reference", "swap_check",
           
           "EXPLORE_MODELS"]

_SCALE = 3  # nearest-neighbour upscaling of the explorer strip (64×32 images are tiny on screen)
_CARD = (200, 214, 236)  # the source panel of a factor drawn from noise: no image behind it
EXPLORE_MODELS = ("pretrained", "run")


@dataclass
class ExplorerState:
    """What the explorer shows; callbacks mutate it and return it.

    Attributes:
        sampler: the loaded :class:`~dpiglib.sampling.sampler.Sampler`.
        dataset: indexable real items (a :class:`~dpiglib.data.datasets.PersonDataset` or a list).
        sources: factor → ``("sample", seed)`` or ``("real", index)``.
        offsets: (18, 2) per-joint (Δrow, Δcol) added to the pose's visible keypoints.
        encoded: dataset index → :class:`Factors` (each picked image is encoded once).
        values: factor → cached batch-1 :class:`Factors` for the current source.
        interp: the last interpolation (cached for the t slider).
    """

    sampler: Sampler
    dataset: Any
    sources: dict[str, tuple[str, int]]
    offsets: np.ndarray = field(default_factory=lambda: np.zeros((18, 2), np.float32))
    encoded: dict[int, Factors] = field(default_factory=dict)
    values: dict[str, tuple[tuple[str, int], Factors]] = field(default_factory=dict)
    interp: Any = None


def _has_phi(sampler: Sampler, factor: str) -> bool:
    return sampler.phi is not None and factor in sampler.phi


def new_state(sampler: Sampler, dataset: Any, seed: int = 0, index: int = 0,
              examples: Sequence[int] | None = None) -> ExplorerState:
    """Start state.

    Without ``examples``: appearance factors sampled with ``seed`` when Stage-II is there (else
    the real image ``index``), pose from the real image ``index``. With ``examples`` (image
    indices, e.g. :func:`dpiglib.ui.viz.contrasting_people`): factor k of ``factor_names`` from
    the real image ``examples[k]`` (the last index repeats when there are fewer), so the
    explorer opens on a person, a background and a pose from three different images.
    """
    if len(dataset) == 0:
        raise ValueError("the explorer needs at least one real image")
    if examples:
        ex = [int(i) for i in examples]
        src = {f: ("real", ex[min(k, len(ex) - 1)]) for k, f in enumerate(sampler.factor_names)}
    else:
        src = {f: (("sample", seed) if f != "pose" and _has_phi(sampler, f) else ("real", index))
               for f in sampler.factor_names}
    return ExplorerState(sampler, dataset, src)


def _encoded(state: ExplorerState, index: int) -> Factors:
    if not 0 <= index < len(state.dataset):
        raise IndexError(f"image index {index} out of range (dataset has {len(state.dataset)})")
    if index not in state.encoded:
        state.encoded[index] = state.sampler.encode(state.dataset[index])
    return state.encoded[index]


def _value(state: ExplorerState, factor: str) -> Factors:
    src = state.sources[factor]
    cached = state.values.get(factor)
    if cached is not None and cached[0] == src:
        return cached[1]
    mode, arg = src
    fac = (state.sampler.sample_factors(1, [factor], seed=arg) if mode == "sample"
           else _encoded(state, arg))
    state.values[factor] = (src, fac)
    return fac


def resample(state: ExplorerState, factor: str, seed: int) -> ExplorerState:
    """Draw ``factor`` from Φ(z) with ``seed``; raises Stage2MissingError without Stage-II."""
    _check_factor(state, factor)
    if not _has_phi(state.sampler, factor) and not (
            factor == "pose" and state.sampler.decode_real_pose):
        state.sampler.require_phi(factor)  # raises the clear "Stage-II missing" error
    state.sources[factor] = ("sample", int(seed))
    return state


def pick_real(state: ExplorerState, factor: str, index: int) -> ExplorerState:
    """Take ``factor`` from real image ``index`` of the dataset."""
    _check_factor(state, factor)
    _encoded(state, int(index))  # validates the index
    state.sources[factor] = ("real", int(index))
    return state


def move_joint(state: ExplorerState, joint: int | str, drow: float, dcol: float) -> ExplorerState:
    """Set the offset (Δrow, Δcol) in pixels of one keypoint (index or name)."""
    k = KEYPOINT_NAMES.index(joint) if isinstance(joint, str) else int(joint)
    if not 0 <= k < 18:
        raise ValueError(f"joint must be 0..17 or a keypoint name, got {joint!r}")
    state.offsets[k] = (drow, dcol)
    return state


def reset_joints(state: ExplorerState) -> ExplorerState:
    state.offsets[:] = 0
    return state


def _check_factor(state: ExplorerState, factor: str) -> None:
    if factor not in state.sampler.factor_names:
        raise ValueError(f"unknown factor {factor!r}; this model has "
                         f"{', '.join(state.sampler.factor_names)}")


def offset_pose(rcv: Any, offsets: Any, size: tuple[int, int]) -> torch.Tensor:
    """``rcv`` (18, 3) with its *visible* keypoints moved by ``offsets`` (Δrow, Δcol) pixels,
    one pair for all (2,) or one per joint (18, 2), clamped to the image; missing keypoints
    stay (0, 0, 0). Any such array is a pose the generator can draw (e.g. "+4 px right")."""
    rcv = torch.as_tensor(rcv, dtype=torch.float32).clone()
    off = torch.as_tensor(np.asarray(offsets, np.float32), device=rcv.device).expand(18, 2)
    h, w = size
    vis = rcv[:, 2:3] >= 0.5
    moved = rcv[:, :2] + off
    moved = torch.stack([moved[:, 0].clamp(0, h - 1), moved[:, 1].clamp(0, w - 1)], 1)
    rcv[:, :2] = torch.where(vis, moved, rcv[:, :2])
    return rcv


def current_factors(state: ExplorerState) -> Factors:
    """The batch-1 :class:`Factors` the explorer renders (joint offsets applied)."""
    s = state.sampler
    emb = {f: _value(state, f).embeddings[f] for f in s.appearance_names}
    pose = _value(state, "pose")
    rcv = pose.rcv.clone()
    if np.any(state.offsets):
        rcv[0] = offset_pose(rcv[0], state.offsets, s.size)
    if "pose" in pose.embeddings:
        emb["pose"] = pose.embeddings["pose"]
    return Factors(emb, rcv, {}, s.pose_heatmaps(rcv))


def _thumb(state: ExplorerState, factor: str) -> np.ndarray:
    """The real source image, or a plain card for a factor drawn from noise (it has no image;
    the caption says Φ(z) and the seed)."""
    mode, arg = state.sources[factor]
    h, w = state.sampler.size
    if mode == "real":
        return to_uint8(state.dataset[arg]["image"])
    return np.broadcast_to(np.array(_CARD, np.uint8), (h, w, 3)).copy()


def _pose_panel(heatmap: torch.Tensor) -> np.ndarray:
    """Heatmap disks of all 18 keypoints, coloured by keypoint, on black."""
    from dpiglib.ui.viz import _KP_COLOURS

    on = (heatmap[0] > 0).cpu().numpy()  # (18, H, W)
    rgb = np.einsum("khw,kc->hwc", on.astype(np.float32), _KP_COLOURS.astype(np.float32))
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def _source_text(state: ExplorerState, factor: str) -> str:
    mode, arg = state.sources[factor]
    return f"image {arg}" if mode == "real" else f"Φ(z), seed {arg}"


def explorer_panels(state: ExplorerState) -> list[tuple[str, str, np.ndarray]]:
    """The explorer's panels as ``(heading, source, uint8 image)``, left to right.

    One panel per appearance factor (``fg``, ``bg``; DeepFashion ``app``): the real image it is
    encoded from, or a plain card when it is drawn from noise (source ``"Φ(z), seed N"``); then
    the pose the generator is given, as its 18 heatmap disks (source: the image or Φ_pose seed,
    ``+ moved joints`` after a slider change); then the generated image (one generator forward).
    """
    s = state.sampler
    fac = current_factors(state)
    out = to_uint8(s.render(fac)[0])
    panels = [(f"{f} source", _source_text(state, f), _thumb(state, f))
              for f in s.appearance_names]
    pose_src = _source_text(state, "pose") + (" + moved" if np.any(state.offsets) else "")
    panels.append(("pose (heatmap)", pose_src, _pose_panel(fac.heatmap)))
    panels.append(("generated", "G(" + ", ".join(s.appearance_names) + ", pose)", out))
    return panels


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def _caption(width: int, lines: Sequence[str], scale: int) -> np.ndarray:
    """A white band of ``width`` pixels with ``lines`` of text (the panel's caption)."""
    from PIL import Image, ImageDraw

    size = max(8, int(round(3.7 * scale)))
    line_h = size + 2
    band = Image.new("RGB", (width, line_h * len(lines) + 4), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    font = _font(size)
    for k, text in enumerate(lines):
        draw.text((2, 2 + k * line_h), text, fill=(20, 20, 20), font=font)
    return np.asarray(band)


def captioned_strip(panels: Sequence[tuple[str, str, np.ndarray]], scale: int = _SCALE,
                    captions: bool = True) -> np.ndarray:
    """Panels ``(heading, source, uint8 image)`` side by side (2-px white gaps), upscaled
    ``scale`` times, with the two caption lines written under each when ``captions``."""
    h, w = panels[0][2].shape[:2]
    gap = np.full((h, 2, 3), 255, np.uint8)
    strip = np.concatenate([x for _, _, p in panels for x in (p, gap)][:-1], axis=1)
    strip = strip.repeat(scale, 0).repeat(scale, 1)
    if not captions:
        return strip
    bands = [_caption(w * scale, (head, src), scale) for head, src, _ in panels]
    gap_c = np.full((bands[0].shape[0], 2 * scale, 3), 255, np.uint8)
    under = np.concatenate([x for b in bands for x in (b, gap_c)][:-1], axis=1)
    return np.concatenate([strip, under], axis=0)


def render_explorer(state: ExplorerState, scale: int = _SCALE, captions: bool = True) -> np.ndarray:
    """The explorer's image: :func:`explorer_panels` as one :func:`captioned_strip`. Without
    captions: (H·scale, (P·W + 2·(P−1))·scale, 3) for P panels."""
    return captioned_strip(explorer_panels(state), scale, captions)


def _interp_panels(state: ExplorerState) -> list[tuple[str, str, np.ndarray]]:
    key, it = state.interp
    a, b = key[0], key[1]
    out = []
    for k, (t, img) in enumerate(zip(it.t, it.images)):
        src = f"image {a}" if k == 0 else f"image {b}" if k == len(it.t) - 1 else "mixed"
        out.append((f"t = {float(t):.2f}", src, to_uint8(img)))
    return out


def _invert_panels(index: int, strip: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    w = strip.shape[1] // 3
    heads = (("real", f"image {index}"), ("G(encoders)", "its embeddings"),
             ("G(Φ(z*))", "inverted noise"))
    return [(hd, src, strip[:, k * w:(k + 1) * w]) for k, (hd, src) in enumerate(heads)]


def render_png(state: ExplorerState) -> bytes:
    """:func:`render_explorer` as PNG bytes (the ``ipywidgets.Image`` value)."""
    return _png(render_explorer(state))


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def interpolation_strip(state: ExplorerState, a: int, b: int, n: int = 8,
                        factor: str | None = None, space: str = "embedding",
                        method: str = "linear", seed: int = 0) -> np.ndarray:
    """Interpolate real images ``a`` → ``b`` (one factor or all) and return the strip (H, n·W, 3).

    The result is cached in ``state.interp`` (the t slider only picks a frame from it).
    """
    key = (a, b, n, factor, space, method, seed)
    if state.interp is None or state.interp[0] != key:
        it = state.sampler.interpolate(_encoded(state, a), _encoded(state, b), steps=n,
                                       factors=factor, space=space, method=method, seed=seed)
        state.interp = (key, it)
    images = state.interp[1].images
    return np.concatenate([to_uint8(x) for x in images], axis=1)


def interpolation_frame(state: ExplorerState, t: float) -> np.ndarray:
    """The cached interpolation frame nearest to ``t`` ∈ [0, 1] (uint8 (H, W, 3))."""
    if state.interp is None:
        raise ValueError("call interpolation_strip first")
    it = state.interp[1]
    i = int(round(float(t) * (len(it.t) - 1)))
    return to_uint8(it.images[min(max(i, 0), len(it.t) - 1)])


def invert_image(state: ExplorerState, index: int, steps: int = 300, seed: int = 0):
    """Invert real image ``index`` (orig §5 item 4).

    Returns:
        ``(inversion, strip)``: the :class:`dpiglib.sampling.latent.Inversion` and a uint8 strip
        [real | G(encoder embeddings) | G(Φ(z*))], all in the image's real pose.
    """
    s = state.sampler
    fac = _encoded(state, index)
    inv = s.invert(fac, steps=steps, seed=seed)
    emb = {**fac.embeddings, **inv.embeddings}
    from_z = Factors(emb, fac.rcv, inv.z, fac.heatmap)
    real = to_uint8(state.dataset[index]["image"])
    rec, inv_img = (to_uint8(s.render(f)[0]) for f in (fac, from_z))
    return inv, np.concatenate([real, rec, inv_img], axis=1)


# ---------------------------------------------------------------------------------------------
# Static views (papermill) and the live widget
# ---------------------------------------------------------------------------------------------


def _panel_figure(rows: Sequence[Sequence[tuple[str, np.ndarray]]], row_labels: Sequence[str],
                  suptitle: str, scale: float = 1.5):
    """A grid of titled image panels (one list of ``(title, image)`` per row)."""
    from dpiglib.ui.viz import _done, _plt

    plt = _plt()
    nrows, ncols = len(rows), max(len(r) for r in rows)
    h, w = rows[0][0][1].shape[:2]
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(ncols * scale * w / h * 1.35 + 1.0, nrows * (scale + 0.45) + 0.4))
    for r, row in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.axis("off")
                continue
            title, img = row[c]
            ax.imshow(img)
            ax.set_title(title, fontsize=6.5)
        axes[r, 0].set_ylabel(row_labels[r], fontsize=7)
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return _done(fig)


def _titled(panels) -> list[tuple[str, np.ndarray]]:
    return [(f"{head}\n{src}", img) for head, src, img in panels]


def static_views(sampler: Sampler, dataset: Any, seed: int = 0, n: int = 4,
                 examples: Sequence[int] | None = None, label: str | None = None) -> list:
    """The explorer's views as matplotlib figures (papermill runs have no live widget).

    1. the start view: every panel of :func:`explorer_panels` with its heading and source;
    2. one factor at a time: each row keeps the start view and redraws one factor from Φ(z)
       with seeds ``seed … seed + n − 1`` (from the real ``examples`` without Stage-II); the
       generated image of each, the start view's first;
    3. the per-joint sliders: both wrists moved by −6 / 0 / +6 px (every panel);
    4. interpolation between the first two examples (embedding space, linear);
    5. the inversion of the first example (Stage-II only).

    Args:
        examples: image indices the explorer opens on (see :func:`new_state`); the
            interpolation runs from the first to the second, the inversion takes the first.
            Default: :func:`new_state`'s sampled start, and images 0, 1 for the others.
        label: the model's name, written in every figure title (e.g. "pretrained synth-tiny").
    """
    who = f" ({label})" if label else ""
    ex = [int(i) for i in examples] if examples else list(range(min(3, len(dataset))))
    start = lambda: new_state(sampler, dataset, seed, examples=examples)  # noqa: E731
    state = start()
    figs = [_panel_figure([_titled(explorer_panels(state))], ["start view"],
                          f"explorer{who}: the panels (source images, pose, generated)")]

    rows, labels = [], []
    base_out = explorer_panels(state)[-1][2]
    for f in sampler.factor_names:
        row = [("start view", base_out)]
        st = start()
        try:
            for k in range(n):
                resample(st, f, seed + k)
                row.append((f"{f}: Φ(z), seed {seed + k}", explorer_panels(st)[-1][2]))
            labels.append(f"{f} from Φ(z)")
        except Stage2MissingError:
            row = [("start view", base_out)]
            for i in ex[:n]:
                pick_real(st, f, i)
                row.append((f"{f}: image {i}", explorer_panels(st)[-1][2]))
            labels.append(f"{f} from real images")
        rows.append(row)
    figs.append(_panel_figure(rows, labels, f"explorer{who}: one factor redrawn at a time "
                                            "(generated images; the rest as in the start view)"))

    moves, move_labels = [], []
    for d, text in ((-6, "wrists −6 px"), (0, "as is"), (6, "wrists +6 px")):
        move_joint(state, "r_wrist", d, d)
        move_joint(state, "l_wrist", d, -d)
        moves.append(_titled(explorer_panels(state)))
        move_labels.append(text)
    reset_joints(state)
    figs.append(_panel_figure(moves, move_labels, f"explorer{who}: per-joint pose sliders"))
    if len(ex) > 1:
        interpolation_strip(state, ex[0], ex[1], n=6)
        figs.append(_panel_figure([_titled(_interp_panels(state))], ["embedding, linear"],
                                  f"interpolation{who}: image {ex[0]} → image {ex[1]}"))
    try:
        inv, strip = invert_image(state, ex[0], steps=50, seed=seed)
        res = ", ".join(f"{f} {float(v.mean()):.2g}" for f, v in inv.residual.items())
        figs.append(_panel_figure([_titled(_invert_panels(ex[0], strip))], ["inversion"],
                                  f"inversion{who} (residual ‖Φ(z*) − e‖²/D: {res})"))
    except Stage2MissingError:
        pass
    return figs


@dataclass
class ExplorerModel:
    """The model notebook 04 shows and the held-out images it is shown with.

    Attributes:
        sampler: the :class:`~dpiglib.sampling.sampler.Sampler`.
        dataset: held-out images the model never trained on (a ``PersonDataset``, test split).
        root: that dataset's root (true masks and factors on SynthPerson).
        label: the model's name for titles: ``"pretrained synth-tiny"`` or ``"this run's model"``.
        data_label: what the images are.
        pretrained: True for the shipped model.
        note: one line when ``"pretrained"`` was asked for and the run's model is shown instead.
    """

    sampler: Sampler
    dataset: Any
    root: Path
    label: str
    data_label: str
    pretrained: bool
    note: str = ""

    def summary(self) -> str:
        s = self.sampler
        stage2 = ", ".join(s.phi) if s.phi is not None else "none"
        text = (f"showing {self.label}: factors {', '.join(s.factor_names)}, Stage-II Φ for "
                f"{stage2}; {len(self.dataset)} {self.data_label}")
        info = getattr(s, "pretrained", None)
        if isinstance(info, dict):
            steps = info.get("steps") or {}
            text += (f"\n{self.label}: width {s.cfg.model.width}, {steps.get('stage1_image')} "
                     f"Stage-I steps, trained by: {info.get('command') or '?'}")
        return f"{self.note}\n{text}" if self.note else text


def pretrained_reference(cfg: Any, device: str = "auto") -> tuple[Sampler | None, str]:
    """The shipped pretrained ``synth-tiny`` model next to a run of the same preset.

    Returns:
        ``(sampler, "")``, or ``(None, why)`` on another preset (the pretrained model is a
        SynthPerson model of the ``synth-tiny`` recipe) or when its weights cannot be loaded (the
        reason in one line).
    """
    from dpiglib.pretrained.registry import PretrainedError

    preset = getattr(cfg, "preset", "")
    if preset != "synth-tiny":
        return None, (f"the shipped pretrained model is synth-tiny (SynthPerson); preset "
                      f"{preset!r} has none")
    try:
        from dpiglib.pretrained.store import load_pretrained

        return load_pretrained("synth-tiny", device=device), ""
    except PretrainedError as exc:
        return None, f"the pretrained model is not available ({exc})"


def _pretrained_images(sampler: Sampler, cfg: Any, run_dir: Any, data_root: Any):
    """(test split, root, description) of images the pretrained model never trained on."""
    from dpiglib.config import ConfigError
    from dpiglib.data.annotations import DatasetError
    from dpiglib.data.datasets import PersonDataset
    from dpiglib.data.prepare import dataset_root
    from dpiglib.pretrained.store import unseen_people

    def test_split(run_root):
        root, what = unseen_people(sampler, run_root)
        return PersonDataset(root, "test", sampler.cfg.data, flip=False), root, what

    try:
        return test_split(dataset_root(cfg, run_dir, data_root)
                          if cfg.data.dataset == "synth" else None)
    except (ConfigError, DatasetError):
        return test_split(None)  # the run's set is unusable: the held-out one


def explorer_model(explore_model: str, cfg: Any, run_dir: Any, data_root: Any = "",
                   device: str = "auto") -> ExplorerModel:
    """What notebook 04 explores: ``"pretrained"`` or ``"run"`` (its ``explore_model`` parameter).

    ``"pretrained"`` on the ``synth-tiny`` preset loads the shipped model
    (``dpiglib.load_pretrained("synth-tiny")``, :func:`pretrained_reference`) and shows it on
    people it never trained on (:func:`dpiglib.pretrained.store.unseen_people`): the run's own
    SynthPerson test people (the run's seed is not the pretrained training seed, so they are new
    to it), drawn at the model's size, or, when the run has no such dataset or uses the reserved
    training seed, the held-out set of :func:`dpiglib.pretrained.store.heldout_dataset`. On
    other presets, or when the weights cannot be loaded, it falls back to the run's model with a
    one-line ``note``.
    ``"run"`` loads the run's newest checkpoints (:meth:`Sampler.from_run_dir`) with the run's
    test split.

    Args:
        cfg: the run's resolved config (``preset``, data settings).
        run_dir, data_root: the run directory and its dataset root (see
            :func:`dpiglib.data.prepare.dataset_root`).
    """
    from dpiglib.data.datasets import PersonDataset
    from dpiglib.data.prepare import dataset_root

    if explore_model not in EXPLORE_MODELS:
        raise ValueError(f"explore_model must be one of {', '.join(EXPLORE_MODELS)}; got "
                         f"{explore_model!r}")
    note = ""
    if explore_model == "pretrained":
        sampler, why = pretrained_reference(cfg, device)
        if sampler is not None:
            test, root, what = _pretrained_images(sampler, cfg, run_dir, data_root)
            return ExplorerModel(sampler, test, root, "pretrained synth-tiny", what, True)
        note = f"note: explore_model='pretrained': {why}; showing this run's model"
    root = dataset_root(cfg, run_dir, data_root)
    sampler = Sampler.from_run_dir(run_dir, device=device, data_root=root)
    test = PersonDataset(root, "test", sampler.cfg.data, flip=False)
    return ExplorerModel(sampler, test, Path(root), "this run's model",
                         "test images of this run (people it never trained on)", False, note)


def swap_check(sampler: Sampler, dataset: Any, root: Any, label: str, factor: str = "bg",
               n: int = 24, seed: int = 0):
    """Does swapping ``factor`` leave the rest alone? The model against an untrained one.

    :func:`dpiglib.metrics.disentangle.swap_change_ratio` (mean |Δ| on the true foreground and
    background, and their ratio) on ``n`` contrasting images of ``dataset`` (SynthPerson: true
    masks in ``root/{split}_mask``), each swapped with the next one (another person), for
    ``sampler`` and for the same architecture with initial weights (seeded by ``seed``; the
    global torch RNG is left as it was).

    Returns:
        DataFrame indexed by ``label`` and ``"untrained (same architecture)"``.
    """
    import pandas as pd

    from dpiglib.metrics.disentangle import load_true_masks, swap_change_ratio
    from dpiglib.models.stage1 import Stage1Model
    from dpiglib.ui.viz import contrasting_people

    picks = contrasting_people(dataset, n, seed)
    items = [dataset.load(i) if hasattr(dataset, "load") else dataset[i] for i in picks]
    masks = load_true_masks(root, getattr(dataset, "split", "test"), [it["name"] for it in items])
    trained = swap_change_ratio(sampler, items, masks, factor, shift=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        blank = Sampler(Stage1Model(sampler.cfg.model), None, None, sampler.cfg, sampler.device)
    untrained = swap_change_ratio(blank, items, masks, factor, shift=1)
    return pd.DataFrame([trained, untrained], index=[label, "untrained (same architecture)"])


def build_explorer(sampler: Sampler, dataset: Any, seed: int = 0,
                   examples: Sequence[int] | None = None, label: str | None = None):
    """The live explorer: an ``ipywidgets.VBox`` whose image updates on every control.

    The image is :func:`render_explorer` (each panel captioned with its source). Controls carry
    stable ``description`` labels (``"fg seed"``, ``"bg seed"``, ``"pose seed"``, ``"joint"``,
    ``"Δrow"``, ``"Δcol"``, …) and CSS classes ``dpig-…`` for browser tests.

    Args:
        examples: image indices to open on (:func:`new_state`); the interpolation runs from the
            first to the second, the inversion starts on the first.
        label: the model's name, shown in the explorer's heading.
    """
    import ipywidgets as W

    state = new_state(sampler, dataset, seed, examples=examples)
    ex = [int(i) for i in examples] if examples else [0, min(1, len(dataset) - 1)]
    ex = ex + [ex[-1]] * (2 - len(ex))
    image = W.Image(value=render_png(state), format="png")
    image.add_class("dpig-explorer-image")
    status = W.HTML(value="")
    status.add_class("dpig-status")
    names = [f"{i}: {getattr(dataset, 'names', [''] * len(dataset))[i]}"
             for i in range(len(dataset))]
    options = [(n, i) for i, n in enumerate(names)]

    def refresh(fn, *args):
        try:
            fn(state, *args)
            image.value = render_png(state)
            status.value = ""
        except (Stage2MissingError, ValueError, IndexError) as exc:
            status.value = f"<span style='color:#b00'>{exc}</span>"

    rows, quiet = [], {"on": False}
    for f in sampler.factor_names:
        mode = W.ToggleButtons(options=["sample", "real"], value=state.sources[f][0],
                               description=f"{f} from")
        seed_w = W.IntSlider(value=seed, min=0, max=999, description=f"{f} seed",
                             continuous_update=True)
        pick = W.Dropdown(options=options, value=state.sources[f][1] if state.sources[f][0] == "real"
                          else 0, description=f"{f} image")
        for w_, cls in ((mode, "mode"), (seed_w, "seed"), (pick, "image")):
            w_.add_class(f"dpig-{f}-{cls}")

        def set_mode(mode, value):  # show the mode without triggering a second render
            quiet["on"] = True
            try:
                mode.value = value
            finally:
                quiet["on"] = False

        def on_seed(ch, f=f, mode=mode):
            set_mode(mode, "sample")
            refresh(resample, f, ch["new"])

        def on_pick(ch, f=f, mode=mode):
            set_mode(mode, "real")
            refresh(pick_real, f, ch["new"])

        def on_mode(ch, f=f, seed_w=seed_w, pick=pick):
            if not quiet["on"]:
                refresh(*((resample, f, seed_w.value) if ch["new"] == "sample"
                          else (pick_real, f, pick.value)))

        seed_w.observe(on_seed, names="value")
        pick.observe(on_pick, names="value")
        mode.observe(on_mode, names="value")
        rows.append(W.HBox([mode, seed_w, pick]))

    joint = W.Dropdown(options=[(f"{k} {n}", k) for k, n in enumerate(KEYPOINT_NAMES)], value=4,
                       description="joint")
    h, w = sampler.size
    drow = W.IntSlider(value=0, min=-h // 2, max=h // 2, description="Δrow")
    dcol = W.IntSlider(value=0, min=-w // 2, max=w // 2, description="Δcol")
    reset = W.Button(description="reset pose")
    for w_, cls in ((joint, "joint"), (drow, "drow"), (dcol, "dcol"), (reset, "reset-pose")):
        w_.add_class(f"dpig-{cls}")

    def on_joint(ch):  # show the chosen joint's current offset without re-rendering
        r, c = state.offsets[ch["new"]]
        drow.unobserve(on_move, names="value")
        dcol.unobserve(on_move, names="value")
        drow.value, dcol.value = int(r), int(c)
        drow.observe(on_move, names="value")
        dcol.observe(on_move, names="value")

    def on_move(_):
        refresh(move_joint, joint.value, drow.value, dcol.value)

    joint.observe(on_joint, names="value")
    drow.observe(on_move, names="value")
    dcol.observe(on_move, names="value")
    reset.on_click(lambda _: (refresh(reset_joints), on_joint({"new": joint.value})))

    # Interpolation between two picked images, and inversion of one.
    ia = W.Dropdown(options=options, value=ex[0], description="from")
    ib = W.Dropdown(options=options, value=ex[1], description="to")
    ifac = W.Dropdown(options=[("all", None)] + [(f, f) for f in sampler.factor_names],
                      description="factor")
    ispace = W.ToggleButtons(options=["embedding", "noise"], description="space")
    imethod = W.ToggleButtons(options=["linear", "slerp"], description="method")
    it_slider = W.FloatSlider(value=0.0, min=0.0, max=1.0, step=1 / 7, description="t")
    strip_img = W.Image(format="png")
    frame_img = W.Image(format="png")
    go = W.Button(description="interpolate")
    for w_, cls in ((ia, "interp-a"), (ib, "interp-b"), (ifac, "interp-factor"),
                    (ispace, "interp-space"), (imethod, "interp-method"), (it_slider, "interp-t"),
                    (strip_img, "interp-strip"), (frame_img, "interp-frame"), (go, "interpolate")):
        w_.add_class(f"dpig-{cls}")

    def do_interp(_=None):
        try:
            interpolation_strip(state, ia.value, ib.value, 8, ifac.value, ispace.value,
                                        imethod.value, seed)
            strip_img.value = _png(captioned_strip(_interp_panels(state), 2))
            frame_img.value = _png(interpolation_frame(state, it_slider.value).repeat(_SCALE, 0)
                                   .repeat(_SCALE, 1))
            status.value = ""
        except (Stage2MissingError, ValueError) as exc:
            status.value = f"<span style='color:#b00'>{exc}</span>"

    go.on_click(do_interp)
    it_slider.observe(lambda ch: state.interp is not None and setattr(
        frame_img, "value", _png(interpolation_frame(state, ch["new"]).repeat(_SCALE, 0)
                                 .repeat(_SCALE, 1))), names="value")

    inv_pick = W.Dropdown(options=options, value=ex[0], description="invert")
    inv_go = W.Button(description="invert image")
    inv_img = W.Image(format="png")
    inv_text = W.HTML()
    for w_, cls in ((inv_pick, "invert-image"), (inv_go, "invert"), (inv_img, "invert-strip")):
        w_.add_class(f"dpig-{cls}")

    def do_invert(_):
        try:
            inv, strip = invert_image(state, inv_pick.value, steps=300, seed=seed)
            inv_img.value = _png(captioned_strip(_invert_panels(inv_pick.value, strip)))
            inv_text.value = "residual ‖Φ(z*) − e‖²/D: " + ", ".join(
                f"{f} {float(v.mean()):.3g}" for f, v in inv.residual.items())
        except Stage2MissingError as exc:
            inv_text.value = f"<span style='color:#b00'>{exc}</span>"

    inv_go.on_click(do_invert)
    box = W.VBox([
        W.HTML(f"<b>factors</b>{' (' + label + ')' if label else ''}: each panel's source is "
               "written under it (an image index, or Φ(z) and its seed)"), image, status, *rows,
        W.HBox([joint, drow, dcol, reset]),
        W.HTML("<b>interpolation</b>"), W.HBox([ia, ib, ifac]), W.HBox([ispace, imethod, go]),
        strip_img, W.HBox([it_slider, frame_img]),
        W.HTML("<b>inversion</b>"), W.HBox([inv_pick, inv_go]), inv_img, inv_text,
    ])
    box.add_class("dpig-explorer")
    box.state = state  # for tests and curious students
    return box
