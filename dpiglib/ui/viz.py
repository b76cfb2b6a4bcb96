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

