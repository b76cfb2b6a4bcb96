"""The interactive sampling explorer of notebook 04 (orig §5 test-time features, hands on).

The explorer recombines the factors of DPIG live: each factor (``fg``, ``bg``, ``pose``; DF
``app``, ``pose``) comes from noise with a seed (Φ(z), Stage-II) or from a picked real image, the
pose can be nudged joint by joint, two images can be interpolated and a picked image inverted.

Every callback is a plain function over an :class:`ExplorerState` that returns arrays, so it is
tested without a browser; :func:`build_explorer` only wires ipywidgets controls to them (this is
the one module that imports ipywidgets, lazily). The update path is kept lean for < 150 ms per
change on a 2-core CPU: picked images are encoded once and cached, a resample runs one Φ, and
every change ends in one generator forward at batch 1; unchanged factors are never recomputed.
Under papermill :func:`static_views` renders the same views as static figures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dpiglib.data.pose import KEYPOINT_NAMES
from dpiglib.sampling.factors import Factors, Stage2MissingError
from dpiglib.sampling.sampler import Sampler
from dpiglib.data.datasets import to_uint8

__all__ = ["ExplorerState", "new_state", "resample", "pick_real", "move_joint", "reset_joints",
           "current_factors", "render_explorer", "render_png", "interpolation_strip",
           "invert_image", "build_explorer", "static_views",
           "PANEL_TITLES"]

PANEL_TITLES = ("fg/app source", "bg source", "pose", "generated")
_SCALE = 3  # nearest-neighbour upscaling of the explorer strip (64×32 images are tiny on screen)


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


def new_state(sampler: Sampler, dataset: Any, seed: int = 0, index: int = 0) -> ExplorerState:
    """Start state: appearance factors sampled with ``seed`` when Stage-II is there (else the
    real image ``index``), pose from the real image ``index``."""
    if len(dataset) == 0:
        raise ValueError("the explorer needs at least one real image")
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


def current_factors(state: ExplorerState) -> Factors:
    """The batch-1 :class:`Factors` the explorer renders (joint offsets applied)."""
    s = state.sampler
    emb = {f: _value(state, f).embeddings[f] for f in s.appearance_names}
    pose = _value(state, "pose")
    rcv = pose.rcv.clone()
    if np.any(state.offsets):
        h, w = s.size
        vis = rcv[0, :, 2:3] >= 0.5
        moved = rcv[0, :, :2] + torch.as_tensor(state.offsets, device=rcv.device)
        moved = torch.stack([moved[:, 0].clamp(0, h - 1), moved[:, 1].clamp(0, w - 1)], 1)
        rcv[0, :, :2] = torch.where(vis, moved, rcv[0, :, :2])
    if "pose" in pose.embeddings:
        emb["pose"] = pose.embeddings["pose"]
    return Factors(emb, rcv, {}, s.pose_heatmaps(rcv))


def _thumb(state: ExplorerState, factor: str) -> np.ndarray:
    """The real source image, or a grey card for a sampled factor."""
    mode, arg = state.sources[factor]
    h, w = state.sampler.size
    if mode == "real":
        return to_uint8(state.dataset[arg]["image"])
    card = np.full((h, w, 3), 96, np.uint8)
    card[:, :, 2] = 140  # bluish: "drawn from noise"
    return card


def _pose_panel(heatmap: torch.Tensor) -> np.ndarray:
    """Heatmap disks of all 18 keypoints, coloured by keypoint, on black."""
    from dpiglib.ui.viz import _KP_COLOURS

    on = (heatmap[0] > 0).cpu().numpy()  # (18, H, W)
    rgb = np.einsum("khw,kc->hwc", on.astype(np.float32), _KP_COLOURS.astype(np.float32))
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def render_explorer(state: ExplorerState, scale: int = _SCALE) -> np.ndarray:
    """One uint8 strip (H·scale, 4·W·scale + gaps, 3): appearance source, bg source (grey on
    DF), the pose drawn, and the generated image (one generator forward)."""
    s = state.sampler
    fac = current_factors(state)
    out = to_uint8(s.render(fac)[0])
    fg_src = _thumb(state, s.appearance_names[0])
    bg_src = _thumb(state, "bg") if "bg" in s.factor_names else np.zeros_like(out)
    panels = [fg_src, bg_src, _pose_panel(fac.heatmap), out]
    gap = np.full((out.shape[0], 2, 3), 255, np.uint8)
    strip = np.concatenate([x for p in panels for x in (p, gap)][:-1], axis=1)
    return strip.repeat(scale, 0).repeat(scale, 1)


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


def static_views(sampler: Sampler, dataset: Any, seed: int = 0, n: int = 4) -> list:
    """The explorer's views as matplotlib figures: per-factor resampling, joint moves,
    an interpolation strip and an inversion."""
    from dpiglib.ui.viz import image_grid

    state = new_state(sampler, dataset, seed)
    figs, strips, labels = [], [], []
    for f in sampler.factor_names:
        try:
            for k in range(n):
                resample(state, f, seed + k)
                strips.append(render_explorer(state, scale=1))
                labels.append(f"resample {f}, seed {seed + k}")
        except Stage2MissingError:
            for k in range(min(n, len(dataset))):
                pick_real(state, f, k)
                strips.append(render_explorer(state, scale=1))
                labels.append(f"{f} from real image {k}")
        state = new_state(sampler, dataset, seed)
    figs.append(image_grid(strips, ncols=n, titles=labels, scale=1.6,
                           suptitle="explorer: " + " | ".join(PANEL_TITLES)))
    moves = []
    for d in (-6, 0, 6):
        move_joint(state, "r_wrist", d, d)
        move_joint(state, "l_wrist", d, -d)
        moves.append(render_explorer(state, scale=1))
    figs.append(image_grid(moves, titles=["wrists −6 px", "as is", "wrists +6 px"], scale=1.6,
                           suptitle="per-joint pose sliders"))
    if len(dataset) > 1:
        strip = interpolation_strip(state, 0, 1, n=6)
        figs.append(image_grid([strip], scale=2.0, suptitle="interpolation 0 → 1 (embedding, linear)"))
    try:
        inv, strip = invert_image(state, 0, steps=50, seed=seed)
        res = ", ".join(f"{f} {float(v.mean()):.2g}" for f, v in inv.residual.items())
        figs.append(image_grid([strip], scale=2.0,
                               suptitle=f"inversion: real | encoder | Φ(z*) (residual {res})"))
    except Stage2MissingError:
        pass
    return figs


def build_explorer(sampler: Sampler, dataset: Any, seed: int = 0):
    """The live explorer: an ``ipywidgets.VBox`` whose image updates on every control.

    Controls carry stable ``description`` labels (``"fg seed"``, ``"bg seed"``, ``"pose seed"``,
    ``"joint"``, ``"Δrow"``, ``"Δcol"``, …) and CSS classes ``dpig-…`` for browser tests.
    """
    import ipywidgets as W

    state = new_state(sampler, dataset, seed)
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
    ia = W.Dropdown(options=options, value=0, description="from")
    ib = W.Dropdown(options=options, value=min(1, len(options) - 1), description="to")
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
            strip = interpolation_strip(state, ia.value, ib.value, 8, ifac.value, ispace.value,
                                        imethod.value, seed)
            strip_img.value = _png(strip.repeat(2, 0).repeat(2, 1))
            frame_img.value = _png(interpolation_frame(state, it_slider.value).repeat(_SCALE, 0)
                                   .repeat(_SCALE, 1))
            status.value = ""
        except (Stage2MissingError, ValueError) as exc:
            status.value = f"<span style='color:#b00'>{exc}</span>"

    go.on_click(do_interp)
    it_slider.observe(lambda ch: state.interp is not None and setattr(
        frame_img, "value", _png(interpolation_frame(state, ch["new"]).repeat(_SCALE, 0)
                                 .repeat(_SCALE, 1))), names="value")

    inv_pick = W.Dropdown(options=options, value=0, description="invert")
    inv_go = W.Button(description="invert image")
    inv_img = W.Image(format="png")
    inv_text = W.HTML()
    for w_, cls in ((inv_pick, "invert-image"), (inv_go, "invert"), (inv_img, "invert-strip")):
        w_.add_class(f"dpig-{cls}")

    def do_invert(_):
        try:
            inv, strip = invert_image(state, inv_pick.value, steps=300, seed=seed)
            inv_img.value = _png(strip.repeat(_SCALE, 0).repeat(_SCALE, 1))
            inv_text.value = "residual ‖Φ(z*) − e‖²/D: " + ", ".join(
                f"{f} {float(v.mean()):.3g}" for f, v in inv.residual.items())
        except Stage2MissingError as exc:
            inv_text.value = f"<span style='color:#b00'>{exc}</span>"

    inv_go.on_click(do_invert)
    box = W.VBox([
        W.HTML("<b>factors</b> (" + " | ".join(PANEL_TITLES) + ")"), image, status, *rows,
        W.HBox([joint, drow, dcol, reset]),
        W.HTML("<b>interpolation</b>"), W.HBox([ia, ib, ifac]), W.HBox([ispace, imethod, go]),
        strip_img, W.HBox([it_slider, frame_img]),
        W.HTML("<b>inversion</b>"), W.HBox([inv_pick, inv_go]), inv_img, inv_text,
    ])
    box.add_class("dpig-explorer")
    box.state = state  # for tests and curious students
    return box
