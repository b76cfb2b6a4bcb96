"""Evaluation masks and geometry tricks of the published protocols (orig §6.2, orig B6; orig §6.4).

Two different masks are called "the mask" in the literature, and they are not interchangeable:

* **DPIG** (``score_mask.py``) multiplies both images by the *source* (conditioning) image's pose
  mask of orig §2.4 at the evaluation radius (Market 7, DeepFashion 4): :func:`dpig_source_mask`
  wraps :func:`dpiglib.data.pose.pose_mask`. orig B6 also asks for a target-mask variant.
* **PATN / Def-GAN / GFLA** (``pose_utils.produce_ma_mask``) draw the *target* pose: limb polygons
  of half-width 4 px, disks of radius 4 at every visible joint, then a 5×5 square dilation and
  erosion: :func:`patn_pose_mask`.

:func:`white_pad` is PATN's ``addBounding``: DeepFashion 176-wide crops padded back to 256 with
white borders before SSIM/IS, which inflates SSIM (GFLA #42).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PATN_LIMBS", "patn_pose_mask", "dpig_source_mask", "apply_mask", "white_pad"]

# produce_ma_mask's 23 limbs, 1-based as in the source (the same list as orig §2.4).
PATN_LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11),
              (2, 12), (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18), (2, 17),
              (2, 18), (9, 12), (12, 6), (9, 3), (17, 18))


def _check_rcv(rcv: Any) -> np.ndarray:
    rcv = np.asarray(rcv, dtype=np.float64)
    if rcv.shape != (18, 3):
        raise ValueError(f"keypoints must be rcv of shape (18, 3) (row, col, visible), got {rcv.shape}")
    return rcv


def patn_pose_mask(rcv: Any, size: tuple[int, int], radius: int = 4) -> np.ndarray:
    """PATN's target-pose mask ``produce_ma_mask(kp, img_size, point_radius=4)`` (orig §6.4).

    For each limb with both ends visible, the quadrilateral ``p_f ± n, p_t ∓ n`` (n = ``radius`` ×
    the unit normal of the limb) is filled with ``skimage.draw.polygon``; every visible joint gets
    ``skimage.draw.disk(radius)`` (the old ``circle``, strict inequality); then a 5×5 square
    dilation followed by an erosion (skimage's grey morphology, reflect borders). Coordinates are
    used as given (the CSV's integers); a limb whose ends coincide contributes only its disks.

    Args:
        rcv: (18, 3) keypoints (row, col, visible) in pixels of the image.
        size: (H, W) of the image.
        radius: polygon half-width and disk radius (4 in every PATN-family script).

    Returns:
        bool (H, W).
    """
    from skimage.draw import disk, polygon
    from skimage.morphology import dilation, erosion

    rcv = _check_rcv(rcv)
    h, w = int(size[0]), int(size[1])
    mask = np.zeros((h, w), dtype=bool)
    vis = rcv[:, 2] > 0
    for f, t in PATN_LIMBS:
        f, t = f - 1, t - 1
        if not (vis[f] and vis[t]):
            continue
        d = rcv[f, :2] - rcv[t, :2]
        norm = np.hypot(d[0], d[1])
        if norm == 0:  # the original divides by zero here (NaN vertices draw nothing)
            continue
        n = radius * np.array([-d[1], d[0]]) / norm
        verts = np.array([rcv[f, :2] + n, rcv[f, :2] - n, rcv[t, :2] - n, rcv[t, :2] + n])
        rr, cc = polygon(verts[:, 0], verts[:, 1], shape=(h, w))
        mask[rr, cc] = True
    for j in np.flatnonzero(vis):
        rr, cc = disk((rcv[j, 0], rcv[j, 1]), radius, shape=(h, w))
        mask[rr, cc] = True
    square5 = np.ones((5, 5), dtype=bool)  # skimage.morphology.square(5), removed in new skimage
    mask = dilation(mask, square5)
    return erosion(mask, square5).astype(bool)


def dpig_source_mask(source_rcv: Any, size: tuple[int, int], radius: int) -> np.ndarray:
    """DPIG's evaluation mask: the source image's pose mask (orig §2.4, orig §6.2, orig B6).

    Args:
        source_rcv: (18, 3) keypoints of the *source* (conditioning) image.
        size: (H, W).
        radius: ``DataConfig.eval_mask_radius`` (Market 7, DeepFashion 4).

    Returns:
        bool (H, W).
    """
    from dpiglib.data.pose import pose_mask  # imported lazily: metrics sits below pose in the import order

    return np.asarray(pose_mask(np.asarray(source_rcv, dtype=np.float32), size, int(radius))) > 0


def apply_mask(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``uint8(mask · img)`` as both score_mask.py and getMetrics do; mask (H, W) in {0, 1}."""
    img = np.asarray(img)
    mask = np.asarray(mask)
    if mask.shape != img.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {img.shape[:2]}")
    return (img * (mask > 0)[..., None]).astype(np.uint8)


def white_pad(img: np.ndarray, border: int = 40) -> np.ndarray:
    """PATN's ``addBounding``: pad the width with ``border`` white (255) columns on each side.

    Args:
        img: uint8 (H, W, 3), e.g. a 256×176 DeepFashion crop.
        border: columns added per side (40 turns 176 into 256).

    Returns:
        uint8 (H, W + 2·border, 3).
    """
    img = np.asarray(img)
    out = np.full((img.shape[0], img.shape[1] + 2 * border, img.shape[2]), 255, dtype=np.uint8)
    out[:, border:border + img.shape[1]] = img
    return out
