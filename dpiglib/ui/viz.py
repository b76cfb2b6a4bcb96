"""Figures for notebooks and reports: image grids, keypoint overlays, heatmaps, masks, curves.

Every function returns a matplotlib ``Figure`` (or draws on a given ``Axes``) and never calls
``display()``/``plt.show()``: notebooks show the returned figure, scripts save it with
:func:`save_figure`. Images may be torch tensors in [−1, 1] of shape (3, H, W) or uint8 arrays
(H, W, 3); :func:`to_uint8` converts either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from dpiglib.data.datasets import to_uint8

__all__ = [
    "image_grid",
    "draw_pose",
    "show_pose",
    "show_heatmaps",
    "show_mask",
    "show_part_boxes",
    "plot_curves",
    "plot_embedding_check",
    "save_figure",
    "show_pose_beside",
    "contrasting_people",
    "true_background_colours",
    "model_label",
    "disentanglement_figure",
    "disentanglement_table",
    "evaluation_examples",
]

# One colour per keypoint (18), the usual OpenPose palette order.
_KP_COLOURS = np.array(
    [
        [255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0],
        [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255],
        [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85],
    ],
    dtype=float,
) / 255.0

PART_NAMES = ("head", "upper body", "lower body", "left arm", "right arm", "left leg", "right leg")


def _plt():
    # matplotlib chooses a headless backend by itself when there is no display, and the inline
    # backend inside Jupyter; we never force one, so notebooks keep their own choice.
    import matplotlib.pyplot as plt

    return plt


def _done(fig):
    """Detach a finished figure from pyplot so Jupyter shows it once (as the cell's value)."""
    _plt().close(fig)
    return fig


def image_grid(images: Sequence, ncols: int | None = None, titles: Sequence[str] | None = None,
               row_labels: Sequence[str] | None = None, scale: float = 1.4, suptitle: str | None = None):
    """Show images in a grid; returns the Figure.

    Args:
        images: sequence (or batch tensor (B,3,H,W)) of images accepted by :func:`to_uint8`.
        ncols: images per row (default: all in one row, at most 8).
        titles: optional title per image.
        row_labels: optional label per row (drawn as the y-label of the first column).
    """
    plt = _plt()
    imgs = [to_uint8(im) for im in images]
    n = len(imgs)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    ncols = ncols or min(n, 8)
    nrows = (n + ncols - 1) // ncols
    h, w = imgs[0].shape[:2]
    aspect = w / h
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale * aspect + 0.2, nrows * scale + 0.3),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            ax.imshow(imgs[i])
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=7)
        else:
            ax.axis("off")
    if row_labels is not None:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(label, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return _done(fig)


def draw_pose(ax, rcv, skeleton: bool = True, marker_size: float = 12, linewidth: float = 1.5,
              labels: bool = False) -> None:
    """Draw keypoints (and the skeleton) of ``rcv`` (18, 3) on an Axes showing the image."""
    from dpiglib.data import pose as P

    rcv = np.asarray(rcv.detach().cpu() if hasattr(rcv, "detach") else rcv, dtype=float)
    vis = rcv[:, 2] > 0.5
    if skeleton:
        for a, b in P.SKELETON:
            if vis[a] and vis[b]:
                ax.plot([rcv[a, 1], rcv[b, 1]], [rcv[a, 0], rcv[b, 0]], "-",
                        color=_KP_COLOURS[b], linewidth=linewidth, alpha=0.9)
    for k in np.flatnonzero(vis):
        ax.scatter([rcv[k, 1]], [rcv[k, 0]], s=marker_size, color=[_KP_COLOURS[k]],
                   edgecolors="black", linewidths=0.3, zorder=3)
        if labels:
            ax.annotate(str(k), (rcv[k, 1], rcv[k, 0]), fontsize=5, color="white")


def show_pose(images: Sequence, rcvs: Sequence, titles: Sequence[str] | None = None,
              ncols: int | None = None, scale: float = 1.8, labels: bool = False):
    """Images with their keypoints and skeleton drawn; returns the Figure."""
    fig = image_grid(images, ncols=ncols, titles=titles, scale=scale)
    for ax, rcv in zip(fig.axes, rcvs):
        draw_pose(ax, rcv, labels=labels)
    return fig


def show_heatmaps(heatmap, title: str | None = None, scale: float = 1.2):
    """The 18 pose channels (18, H, W) in {−1, +1}, one panel per keypoint name."""
    from dpiglib.data import pose as P

    plt = _plt()
    hm = np.asarray(heatmap.detach().cpu() if hasattr(heatmap, "detach") else heatmap)
    if hm.shape[0] != P.NUM_KEYPOINTS:
        raise ValueError(f"heatmap must have shape (18, H, W), got {hm.shape}")
    h, w = hm.shape[1:]
    fig, axes = plt.subplots(2, 9, figsize=(9 * scale * w / h + 0.2, 2 * scale + 0.5))
    for k, ax in enumerate(axes.flat):
        ax.imshow(hm[k], cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{k} {P.KEYPOINT_NAMES[k]}", fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _done(fig)


def show_mask(images: Sequence, masks: Sequence, titles: Sequence[str] | None = None,
              scale: float = 1.8, alpha: float = 0.5):
    """Images with a pose/foreground mask (H, W) {0,1} overlaid in red."""
    overlays = []
    for im, m in zip(images, masks):
        arr = to_uint8(im).astype(float)
        mk = np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=float).squeeze()
        red = np.zeros_like(arr)
        red[..., 0] = 255
        arr = np.where(mk[..., None] > 0.5, (1 - alpha) * arr + alpha * red, 0.6 * arr)
        overlays.append(arr.astype(np.uint8))
    return image_grid(overlays, titles=titles, scale=scale)


def show_part_boxes(images: Sequence, boxes: Sequence, vis: Sequence, titles: Sequence[str] | None = None,
                    scale: float = 1.8):
    """Images with the 7 body-part boxes (y1, x1, y2, x2) drawn; invisible parts are skipped."""
    from matplotlib.patches import Rectangle

    fig = image_grid(images, titles=titles, scale=scale)
    for ax, bx, vs in zip(fig.axes, boxes, vis):
        bx = np.asarray(bx.cpu() if hasattr(bx, "cpu") else bx)
        vs = np.asarray(vs.cpu() if hasattr(vs, "cpu") else vs)
        for k in range(len(bx)):
            if vs[k] < 0.5:
                continue
            y1, x1, y2, x2 = bx[k]
            ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1 + 1, y2 - y1 + 1, fill=False,
                                   edgecolor=_KP_COLOURS[(k * 5) % 18], linewidth=1.0))
    return fig


def plot_curves(frame, x: str = "step", columns: Iterable[str] | None = None, title: str | None = None,
                logy: bool = False, smooth: int = 1):
    """Line plot of logged columns of a DataFrame (or a CSV path) against ``x``."""
    import pandas as pd

    plt = _plt()
    df = pd.read_csv(frame) if isinstance(frame, (str, Path)) else frame
    cols = [c for c in (columns or df.columns) if c != x and c in df.columns
            and pd.api.types.is_numeric_dtype(df[c])]
    fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * max(len(cols), 1), 2.6), squeeze=False)
    for ax, c in zip(axes.flat, cols):
        y = df[c].rolling(smooth, min_periods=1).mean() if smooth > 1 else df[c]
        ax.plot(df[x], y, linewidth=1.2)
        ax.set_title(c, fontsize=8)
        ax.set_xlabel(x, fontsize=7)
        ax.tick_params(labelsize=6)
        if logy:
            ax.set_yscale("log")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _done(fig)


def save_figure(fig, path, dpi: int = 110) -> Path:
    """Save a figure as PNG (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def plot_embedding_check(real: dict, fake: dict, init: dict | None = None, max_points: int = 400,
                         scale: float = 2.6):
    """Has Φ learned the embedding distribution? One row per factor (Stage-II, orig §4).

    Columns: per-dimension mean and per-dimension standard deviation of real embeddings vs Φ(z)
    (and Φ at initialisation, dashed), dimensions sorted by the real mean; then a 2-D PCA scatter
    (axes fitted on the real sample) of real vs fake points.

    Args:
        real, fake, init: factor → (N, D) tensors or arrays (``init`` optional), e.g. from
            :func:`dpiglib.training.stage2.embedding_check_samples`.
        max_points: points per set in the scatter.
    """
    plt = _plt()

    def arr(x):
        return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)

    factors = list(real)
    fig, axes = plt.subplots(len(factors), 3, figsize=(3 * scale * 1.3, len(factors) * scale),
                             squeeze=False)
    sets = [("real", real, "black", "-"), ("Φ(z) trained", fake, "tab:red", "-")]
    if init is not None:
        sets.append(("Φ(z) at init", init, "tab:blue", "--"))
    for row, f in zip(axes, factors):
        r = arr(real[f])
        order = np.argsort(r.mean(0))
        mu = r.mean(0)
        basis = np.linalg.svd(r - mu, full_matrices=False)[2][:2]  # (2, D) principal axes
        for label, data, colour, style in sets:
            x = arr(data[f])
            row[0].plot(x.mean(0)[order], style, color=colour, linewidth=1, label=label)
            row[1].plot(x.std(0)[order], style, color=colour, linewidth=1, label=label)
            p = (x[:max_points] - mu) @ basis.T
            row[2].scatter(p[:, 0], p[:, 1], s=3, alpha=0.4, color=colour, label=label)
        row[0].set_title(f"{f}: mean per dim ({r.shape[1]}-d)", fontsize=8)
        row[1].set_title(f"{f}: std per dim", fontsize=8)
        row[2].set_title(f"{f}: PCA of real (2-D)", fontsize=8)
        for ax in row:
            ax.tick_params(labelsize=6)
        row[0].set_xlabel("dimension (sorted by real mean)", fontsize=7)
    axes[0, 2].legend(fontsize=6, markerscale=3)
    fig.tight_layout()
    return fig



# ---------------------------------------------------------------------------------------------
# Poses beside images, contrasting examples, and the disentanglement figure (notebook 04)
# ---------------------------------------------------------------------------------------------


def pose_canvas(size: tuple[int, int]) -> np.ndarray:
    """A light-grey uint8 (H, W, 3) canvas of ``size``; :func:`show_pose_beside` draws the
    keypoints on it with :func:`draw_pose`."""
    h, w = int(size[0]), int(size[1])
    return np.full((h, w, 3), 236, np.uint8)


def show_pose_beside(images: Sequence, rcvs: Sequence, titles: Sequence[str] | None = None,
                     ncols: int | None = None, scale: float = 1.8, suptitle: str | None = None,
                     pose_titles: Sequence[str] | None = None):
    """Each image with the keypoints it goes with drawn in a panel *beside* it, never over it.

    A generated image is judged on its own pixels: an overlaid skeleton hides what the
    generator drew. Here panel 2k is image k untouched and panel 2k+1 its keypoints and skeleton
    on a blank canvas of the same size (``None`` as an rcv: no pose panel content).

    Args:
        images: images accepted by :func:`to_uint8`.
        rcvs: one (18, 3) pose per image (or None).
        titles: one title per image; the pose panel is titled ``pose_titles[k]`` (default
            "keypoints").
        ncols: image+pose pairs per row (default all, at most 4).
    """
    plt = _plt()
    imgs = [to_uint8(im) for im in images]
    n = len(imgs)
    if n == 0 or len(rcvs) != n:
        raise ValueError(f"show_pose_beside needs one rcv per image; got {n} images and "
                         f"{len(rcvs)} poses")
    pairs = ncols or min(n, 4)
    nrows = (n + pairs - 1) // pairs
    h, w = imgs[0].shape[:2]
    fig, axes = plt.subplots(nrows, 2 * pairs, squeeze=False,
                             figsize=(2 * pairs * scale * w / h + 0.3, nrows * (scale + 0.35) + 0.3))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.axis("off")
    for k, (im, rcv) in enumerate(zip(imgs, rcvs)):
        r, c = divmod(k, pairs)
        ax_im, ax_pose = axes[r, 2 * c], axes[r, 2 * c + 1]
        ax_im.axis("on")
        ax_im.imshow(im)
        ax_im.set_title(titles[k] if titles is not None and k < len(titles) else "", fontsize=7)
        ax_pose.axis("on")
        ax_pose.imshow(pose_canvas(im.shape[:2]))
        if rcv is not None:
            draw_pose(ax_pose, rcv, marker_size=8, linewidth=1.2)
        ax_pose.set_xlim(-0.5, im.shape[1] - 0.5)
        ax_pose.set_ylim(im.shape[0] - 0.5, -0.5)
        ax_pose.set_title(pose_titles[k] if pose_titles is not None and k < len(pose_titles)
                          else "keypoints", fontsize=6, color="0.35")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return _done(fig)


def _dataset_source(dataset) -> tuple[Path, str] | None:
    """(root, split) of a PersonDataset, or None for other indexables."""
    files = getattr(dataset, "files", None)
    split = getattr(dataset, "split", None)
    if files is None or split is None or not hasattr(dataset, "names"):
        return None
    return Path(files.root), str(split)


def true_background_colours(root: Path, split: str, names: Sequence[str]) -> np.ndarray | None:
    """Mean RGB in [0, 1] of each image's true background (SynthPerson ``{split}_mask``), (N, 3);
    None when a mask or an image is missing (not SynthPerson)."""
    from PIL import Image

    out = []
    for n in names:
        mpath, ipath = root / f"{split}_mask" / n, root / split / n
        if not (mpath.is_file() and ipath.is_file()):
            return None
        with Image.open(mpath) as m, Image.open(ipath) as im:
            bg = np.asarray(m.convert("L")) <= 127
            rgb = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
        out.append(rgb[bg].mean(0) if bg.any() else rgb.reshape(-1, 3).mean(0))
    return np.stack(out)


def _factor_features(dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """(features (N, D), identity (N,)) from SynthPerson's ground-truth factors, or None."""
    src = _dataset_source(dataset)
    if src is None:
        return None
    root, split = src
    try:
        from dpiglib.synth.dataset import load_factors

        table = load_factors(root, split)
    except (OSError, ValueError):  # not SynthPerson (no factors file) or unreadable
        return None
    names = list(dataset.names)
    if any(n not in table.index for n in names):
        return None
    t = table.loc[names]
    parts = []
    for part in ("upper", "lower", "hair", "skin"):  # what the person looks like
        parts.append(t[[f"app_{part}_{c}" for c in "rgb"]].to_numpy(np.float64) / 255.0)
    for col, weight in (("app_lower_kind", 0.5), ("app_upper_pattern", 0.5), ("pose_view", 1.0),
                        ("pose_action", 1.0), ("bg_kind", 1.0)):  # kinds: one-hot
        values = t[col].astype(str).to_numpy()
        parts.append(weight * (values[:, None] == np.unique(values)[None, :]).astype(np.float64))
    bg = true_background_colours(root, split, names)
    if bg is not None:
        parts.append(2.0 * bg)  # the background's colour counts as much as the person's
    return np.concatenate(parts, 1), t["identity"].to_numpy()


def contrasting_people(dataset, n: int = 6, seed: int = 0) -> list[int]:
    """Indices of ``n`` images of different people that look different, stand on different
    backgrounds and in different poses: good default examples for swaps and the explorer.

    On SynthPerson the choice uses the ground-truth factors (``synth-factors-{split}.csv``:
    clothes, hair and skin colours, trouser/skirt and pattern kinds, view, action, background
    kind, plus the mean colour of the true background): greedy farthest-point selection, one
    image per identity while identities last. Other datasets: one image of each of ``n``
    identities spread over the split. Deterministic for a given ``seed``.

    Args:
        dataset: a :class:`~dpiglib.data.datasets.PersonDataset` (or any indexable of items).
        n: how many images.
        seed: which image starts the selection (``seed`` modulo the dataset size).
    """
    size = len(dataset)
    if size == 0:
        raise ValueError("contrasting_people: the dataset is empty")
    n = min(int(n), size)
    found = _factor_features(dataset)
    if found is None:
        ids = getattr(dataset, "identity_index", None)
        ids = np.arange(size) if ids is None else np.asarray(ids)
        firsts = [int(np.flatnonzero(ids == i)[0]) for i in dict.fromkeys(ids.tolist())]
        if len(firsts) >= n:
            picks = [firsts[int(round(k * (len(firsts) - 1) / max(n - 1, 1)))] for k in range(n)]
        else:
            picks = firsts + [i for i in range(size) if i not in firsts][:n - len(firsts)]
        start = int(seed) % len(picks)
        return picks[start:] + picks[:start]
    feats, ids = found
    chosen = [int(seed) % size]
    dist = np.linalg.norm(feats - feats[chosen[0]], axis=1)
    while len(chosen) < n:
        used = set(ids[chosen].tolist())
        score = np.where(np.isin(ids, list(used)), -1.0, dist)  # new identities first
        score[chosen] = -np.inf
        nxt = int(np.argmax(score))  # ties: the lowest index (deterministic)
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(feats - feats[nxt], axis=1))
    return chosen


def _item(dataset, index: int) -> dict:
    """Item ``index`` without a random flip (PersonDataset.load), else ``dataset[index]``."""
    load = getattr(dataset, "load", None)
    return load(int(index)) if callable(load) else dataset[int(index)]


def model_label(sampler, default: str = "this run's model") -> str:
    """How figures name a Sampler: ``"pretrained synth-tiny"`` for a shipped model, else
    ``default``."""
    info = getattr(sampler, "pretrained", None)
    return f"pretrained {info.get('name', '?')}" if isinstance(info, dict) else default


def disentanglement_figure(sampler, dataset, names: Sequence[str] | None = None,
                           n_people: int = 6, seed: int = 0, title: str | None = None,
                           scale: float = 1.15):
    """Rows that keep two factors of one person and change the third (orig §1, orig §5).

    Column 0 is person **A**: the real image, then in every generated row A rebuilt from its
    own factors (what an unchanged row would look like). Columns 1..n are held-out people
    **B1..Bn** (their real images in row 0). Each further row changes one factor and keeps the
    others from A:

    * ``fg of B`` / ``bg of B`` / ``pose of B`` (DeepFashion-style models: ``app``, ``pose``):
      A with that factor encoded from the column's real person (a swap; for pose the PG2 task);
    * ``fg ~ Φ(z)``, … (when Stage-II has that factor): A with that factor drawn from noise,
      sample j of ``sample_factors(n, [factor], seed=seed)`` in column j.

    Deterministic (encoders and generator in eval mode, noise from ``seed``), one encoder
    batch and one generator batch per row.

    Args:
        sampler: a :class:`~dpiglib.sampling.sampler.Sampler` (e.g. ``dpiglib.load_pretrained()``).
        dataset: held-out images (a :class:`~dpiglib.data.datasets.PersonDataset`).
        names: image names, A first, then the B columns (default: :func:`contrasting_people`
            picks ``n_people + 1``).
        n_people: number of B columns when ``names`` is not given.
        seed: the noise of the Φ rows and the start of the contrasting choice.
        title: the figure title (default names the model, see :func:`model_label`).

    Returns:
        the Figure. ``fig.dpig_cells`` lists every panel as a dict (``row``, ``col``, ``row_label``,
        ``kind`` = ``"real"``/``"generated"``, ``varies`` (the changed factor or None),
        ``sources`` (factor → ``"A"``, ``"B3"``, ``"Φ(z) #2"``), ``rcv`` (18, 3) of the pose
        drawn, ``image`` uint8); ``fig.dpig_people`` maps ``"A"``, ``"B1"``, … to image names.
    """
    import torch

    from dpiglib.sampling.factors import Stage2MissingError

    plt = _plt()
    if names is not None:
        index = {nm: i for i, nm in enumerate(getattr(dataset, "names", []))}
        missing = [nm for nm in names if nm not in index]
        if missing:
            raise ValueError(f"disentanglement_figure: {missing[0]!r} is not an image of the dataset")
        picks = [index[nm] for nm in names]
    else:
        picks = contrasting_people(dataset, int(n_people) + 1, seed)
    if len(picks) < 2:
        raise ValueError("disentanglement_figure needs at least two images (A and one B)")
    items = [_item(dataset, i) for i in picks]
    people = ["A"] + [f"B{j}" for j in range(1, len(items))]
    n = len(items) - 1
    enc = sampler.encode(items)
    a, b = enc.rows(0), enc.rows(slice(1, None))
    factors = tuple(sampler.factor_names)

    rows = []  # (label, factor varied, Factors of batch n, per-column source of that factor)
    for f in factors:
        fac = sampler.compose(n=n, **{g: (b if g == f else a) for g in factors})
        rows.append((f"{f} of B\n(rest of A)", f, fac, people[1:]))
    for f in factors:
        try:
            drawn = sampler.sample_factors(n, [f], seed=seed)
        except Stage2MissingError:
            continue
        fac = sampler.compose(n=n, **{g: (drawn if g == f else a) for g in factors})
        rows.append((f"{f} ~ Φ(z)\n(rest of A)", f, fac, [f"Φ(z) #{j}" for j in range(1, n + 1)]))

    with torch.no_grad():
        recon = to_uint8(sampler.render(a)[0])
        rendered = [[to_uint8(x) for x in sampler.render(fac)] for _, _, fac, _ in rows]
    real = [to_uint8(it["image"]) for it in items]
    rcv = lambda t: np.asarray(t.detach().cpu(), dtype=np.float32)  # noqa: E731

    h, w = real[0].shape[:2]
    nrows, ncols = 1 + len(rows), 1 + n
    pw, ph = scale * w / h, scale
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(ncols * pw + 1.3, nrows * (ph + 0.15) + 0.75))
    cells = []

    def put(r, c, img, title_text, **meta):
        ax = axes[r, c]
        ax.imshow(img)
        ax.set_xticks([])
        ax.set_yticks([])
        if title_text:
            ax.set_title(title_text, fontsize=7)
        cells.append({"row": r, "col": c, "image": img, "title": title_text, **meta})

    row0 = "real held-out"
    put(0, 0, real[0], "A (kept)", row_label=row0, kind="real", varies=None,
        sources={f: "A" for f in factors}, rcv=rcv(items[0]["rcv"]))
    for j in range(1, ncols):
        put(0, j, real[j], people[j], row_label=row0, kind="real", varies=None,
            sources={f: people[j] for f in factors}, rcv=rcv(items[j]["rcv"]))
    axes[0, 0].set_ylabel(row0, fontsize=7)
    for r, ((label, f, fac, col_src), imgs) in enumerate(zip(rows, rendered), start=1):
        put(r, 0, recon, "A rebuilt" if r == 1 else "", row_label=label, kind="generated",
            varies=None, sources={g: "A" for g in factors}, rcv=rcv(a.rcv[0]))
        for j in range(n):
            put(r, j + 1, imgs[j], "", row_label=label, kind="generated", varies=f,
                sources={g: (col_src[j] if g == f else "A") for g in factors},
                rcv=rcv(fac.rcv[j]))
        axes[r, 0].set_ylabel(label, fontsize=7)
    if title is None:
        title = (f"{model_label(sampler, 'model')}: each row keeps two factors of A and changes "
                 "one")
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=1.1 / fig.get_figwidth(), right=0.99, bottom=0.01,
                        top=1 - 0.6 / fig.get_figheight(), wspace=0.06, hspace=0.2)
    fig.dpig_cells = cells
    fig.dpig_people = {p: items[k]["name"] for k, p in enumerate(people)}
    return _done(fig)


def disentanglement_table(fig):
    """Numbers behind a :func:`disentanglement_figure`, one row per figure row.

    ``spread``: mean |Δ| (on [0, 1]) between every two images of the row's B / Φ columns (how
    different the row's outputs are from each other); ``change from A``: mean |Δ| between each
    of them and the row's column 0 (A real, or A rebuilt). Six near-identical Φ samples show up
    as a spread far below the real people's.
    """
    import pandas as pd

    rows: dict[int, list[dict]] = {}
    for cell in fig.dpig_cells:
        rows.setdefault(cell["row"], []).append(cell)
    out = []
    for r in sorted(rows):
        cells = sorted(rows[r], key=lambda c: c["col"])
        ref = cells[0]["image"].astype(np.float64) / 255.0
        imgs = [c["image"].astype(np.float64) / 255.0 for c in cells[1:]]
        pairs = [np.abs(x - y).mean() for i, x in enumerate(imgs) for y in imgs[i + 1:]]
        out.append({"row": cells[0]["row_label"].replace("\n", " "),
                    "varies": cells[1]["varies"] or "all (real people)",
                    "spread": float(np.mean(pairs)) if pairs else float("nan"),
                    "change from A": float(np.mean([np.abs(x - ref).mean() for x in imgs]))})
    return pd.DataFrame(out).set_index("row")


def evaluation_examples(doc: dict, data_root, data_cfg, title: str | None = None,
                        scale: float = 1.5):
    """Four scored pose transfers of an evaluation (``evaluate_run``'s ``doc``), each picked
    for what it shows rather than ranked by score.

    Per pair: ``ssim`` = clean SSIM of the generated image against the target photo;
    ``copy ssim`` = the same for the unchanged source (the do-nothing answer); ``pose change``
    = mean distance of the keypoints visible in both, in image heights; ``background
    difference`` = mean |source − target| (on [0, 1]) outside both pose masks. The rows:

    * *typical*: the median SSIM;
    * *largest pose change*: does the output move to the target's keypoints?
    * *most different backgrounds*: even a perfect transfer keeps the source's background, so
      SSIM against this target stays low;
    * *most similar backgrounds*: here SSIM mostly measures the person.

    Returns:
        ``(figure, chosen, scored)``: rows source | target | generated; the four pairs' numbers
        (indexed by why each was chosen); the numbers of every scored pair.
    """
    import pandas as pd

    from dpiglib.data.annotations import find_dataset_files, read_annotation_csv, read_pairs_csv
    from dpiglib.data.pose import pose_mask
    from dpiglib.metrics.io import default_name_fn, read_image
    from dpiglib.metrics.ssim import ssim_variant

    gen_dir = Path(doc["generation"]["out_dir"])
    tgt_dir = Path(doc["generation"]["target_dir"])
    src_dir = Path(data_root) / "test"
    pairs = read_pairs_csv(gen_dir / "pairs.csv")
    if not pairs:
        raise ValueError(f"{gen_dir / 'pairs.csv'} lists no pair")
    ann = read_annotation_csv(find_dataset_files(data_root, "test", data_cfg.dataset).annotation)
    rows = []
    for a, b in pairs:
        src, tgt = read_image(src_dir / a), read_image(tgt_dir / b)
        gen = read_image(gen_dir / default_name_fn(a, b))
        ra, rb = ann[a], ann[b]
        both = (ra[:, 2] > 0.5) & (rb[:, 2] > 0.5)
        move = (np.linalg.norm(ra[both, :2] - rb[both, :2], axis=1).mean() / src.shape[0]
                if both.any() else 0.0)
        size = src.shape[:2]
        bg = ~((np.asarray(pose_mask(ra, size, data_cfg.mask_radius)) > 0)
               | (np.asarray(pose_mask(rb, size, data_cfg.mask_radius)) > 0))
        diff = np.abs(src.astype(np.float64) - tgt.astype(np.float64)).mean(2) / 255.0
        rows.append({"source": a, "target": b, "ssim": ssim_variant("clean", gen, tgt)[0],
                     "copy ssim": ssim_variant("clean", src, tgt)[0], "pose change": float(move),
                     "background difference": float(diff[bg].mean()) if bg.any() else 0.0,
                     "images": (src, tgt, gen)})
    table = pd.DataFrame(rows)
    picks, used = [], set()
    order = {"typical (median SSIM)": (table["ssim"] - table["ssim"].median()).abs(),
             "largest pose change": -table["pose change"],
             "most different backgrounds": -table["background difference"],
             "most similar backgrounds": table["background difference"]}
    for why, key in order.items():
        i = next(int(i) for i in key.sort_values(kind="stable").index if int(i) not in used)
        used.add(i)
        picks.append((why, i))
    plt = _plt()
    h, w = rows[0]["images"][0].shape[:2]
    fig, axes = plt.subplots(len(picks), 3, squeeze=False,
                             figsize=(3 * scale * w / h * 1.6 + 1.4, len(picks) * (scale + 0.4) + 0.4))
    for r, (why, i) in enumerate(picks):
        row = rows[i]
        titles = (f"source (copy SSIM {row['copy ssim']:.2f})", "target",
                  f"generated (SSIM {row['ssim']:.2f})")
        for c, (img, t) in enumerate(zip(row["images"], titles)):
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(t, fontsize=7)
        axes[r, 0].set_ylabel(why.replace(" (", "\n("), fontsize=7)
    fig.suptitle(title or "pose transfer examples, chosen by what they show", fontsize=9)
    fig.tight_layout()
    columns = ["source", "target", "ssim", "copy ssim", "pose change", "background difference"]
    shown = table.loc[[i for _, i in picks], columns]
    shown.index = [why for why, _ in picks]
    return _done(fig), shown, table[columns]
