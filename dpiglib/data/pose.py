"""Keypoints and the inputs derived from them: heatmaps, pose masks, part boxes (orig §2.2-2.5).

A pose is ``rcv``: float (18, 3) or (B, 18, 3) of (row, col, visible) in pixels; a missing keypoint
is (0, 0, 0). Every function takes NumPy arrays *or* torch tensors: the NumPy path transcribes the
original loops (the reference, used by data preparation and tests), the torch path is vectorised
for whole batches on any device (used by ``data.prepare_batch``) and equals it pixel for pixel.

- :func:`pose_heatmap`: 18 solid disks in {-1, +1}, orig §2.3 (``coord2channel_simple_rcv`` +
  ``tf_poseInflate``; ``py_poseInflate`` for decoded poses).
- :func:`pose_mask`: 23 limbs stamped with disks, then a 5×5 closing, orig §2.4 (``_getPoseMask``).
- :func:`part_boxes`: the 7 part boxes used by DPIG, Market and DeepFashion rules, orig §2.5.
- :func:`flip_rcv`, :func:`normalize_rcv` / :func:`denormalize_rcv` (orig §3.7), CSV helpers.

A keypoint counts as visible when v >= 0.5 (the original has v in {0, 1}; 0.5 is the threshold
that ``denormalize_rcv`` applies to the pose auto-encoder's output).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "KEYPOINT_NAMES", "NUM_KEYPOINTS", "FLIP_PERMUTATION", "MASK_LIMBS", "SKELETON", "PART_GROUPS",
    "validate_rcv", "rcv_from_array", "csv_to_rcv", "rcv_to_csv", "scaled_radius", "box_margins",
    "pose_heatmap", "pose_mask", "part_boxes", "part_boxes_batch", "flip_rcv", "normalize_rcv",
    "denormalize_rcv",
]

# ---------------------------------------------------------------------------------------------
# Constants (orig §2.2, docs/conventions.md: OpenPose COCO order, "r" = the person's right)
# ---------------------------------------------------------------------------------------------

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
)
NUM_KEYPOINTS = 18

#: ``flipped[k] = original[FLIP_PERMUTATION[k]]``: a mirror turns the right shoulder into the left.
FLIP_PERMUTATION: tuple[int, ...] = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)

#: The 23 limbs of ``_getPoseMask`` (orig §2.4), converted from the original's 1-based indices. Besides
#: the drawing skeleton they join neck-ears, hip-hip, hips-shoulders and ear-ear.
MASK_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (1, 16), (1, 17), (8, 11), (11, 5),
    (8, 2), (16, 17),
)

#: The 19 limbs OpenPose draws (0-based), for visualisation only.
SKELETON: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)

#: Keypoints of the 7 body parts DPIG encodes (orig §2.5 table, parts 1-7 of the 37).
PART_GROUPS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 5, 14, 15, 16, 17),  # 1 head + shoulders
    (2, 3, 4, 5, 6, 7, 8, 11),  # 2 upper body: both arms + both hips
    (8, 9, 10, 11, 12, 13),  # 3 lower body: both legs
    (5, 6, 7),  # 4 left arm
    (2, 3, 4),  # 5 right arm
    (11, 12, 13),  # 6 left leg
    (8, 9, 10),  # 7 right leg
)

_PAPER_HEIGHT = {"market": 128, "deepfashion": 256}
_CLOSING_SIZE = 5  # skimage square(5) dilation then erosion (orig §2.4)

# ---------------------------------------------------------------------------------------------
# Validation and conversions
# ---------------------------------------------------------------------------------------------


def _is_torch(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def validate_rcv(rcv: Any, name: str = "rcv") -> Any:
    """Check that ``rcv`` is (18, 3) or (B, 18, 3) and finite; return it unchanged.

    Raises:
        ValueError: naming ``name``, the expected shape and the shape received, or the NaN/inf.
    """
    shape = tuple(rcv.shape) if hasattr(rcv, "shape") else tuple(np.shape(rcv))
    if len(shape) not in (2, 3) or shape[-2:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"{name}: expected shape (18, 3) or (B, 18, 3) of (row, col, visible), "
                         f"got {shape}")
    ok = torch.isfinite(rcv).all(-1).cpu().numpy() if _is_torch(rcv) else \
        np.isfinite(np.asarray(rcv, dtype=np.float64)).all(-1)
    if not ok.all():
        bad = sorted({int(k) for k in np.nonzero(~ok)[-1]})
        raise ValueError(f"{name}: contains NaN or inf at keypoint(s) {bad}; mark a missing "
                         "keypoint as (0, 0, 0) instead")
    return rcv


def rcv_from_array(values: Any, name: str = "rcv") -> np.ndarray:
    """Float32 (…, 18, 3) array from a list/array of shape (18, 3), (54,), (B, 18, 3) or (B, 54)."""
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim in (1, 2) and arr.shape[-1] == 3 * NUM_KEYPOINTS:
        arr = arr.reshape(arr.shape[:-1] + (NUM_KEYPOINTS, 3))  # interleaved (r, c, v) per keypoint
    return validate_rcv(arr, name)


def csv_to_rcv(ys: Any, xs: Any) -> np.ndarray:
    """CSV keypoints (18,) or (N, 18) of y and x with -1 = missing → float32 rcv (…, 18, 3).

    A keypoint is missing when either coordinate is -1 (the released files set both).
    """
    ys, xs = np.asarray(ys, dtype=np.float64), np.asarray(xs, dtype=np.float64)
    if ys.shape != xs.shape or ys.shape[-1:] != (NUM_KEYPOINTS,) or ys.ndim > 2:
        raise ValueError(f"csv_to_rcv: expected ys and xs of shape (18,) or (N, 18), got "
                         f"{ys.shape} and {xs.shape}")
    vis = (ys != -1) & (xs != -1)
    rcv = np.stack([np.where(vis, ys, 0), np.where(vis, xs, 0), vis], axis=-1)
    return validate_rcv(rcv.astype(np.float32), "csv_to_rcv")


def rcv_to_csv(rcv: Any) -> tuple[np.ndarray, np.ndarray]:
    """rcv (…, 18, 3) → int64 (ys, xs) of shape (…, 18), -1 for missing; coordinates truncated."""
    rcv = validate_rcv(rcv.detach().cpu().numpy() if _is_torch(rcv) else np.asarray(rcv))
    vis = rcv[..., 2] >= 0.5
    ys = np.where(vis, np.trunc(rcv[..., 0]), -1).astype(np.int64)
    xs = np.where(vis, np.trunc(rcv[..., 1]), -1).astype(np.int64)
    return ys, xs


def scaled_radius(paper_radius: float, height: int, paper_height: int = 128) -> int:
    """A pixel radius of the paper scaled to image height ``height`` (half-up rounding, ≥ 1).

    ``scaled_radius(4, 64) == 2`` and ``scaled_radius(7, 64) == 4`` (the synth-tiny radii).
    """
    return max(1, int(math.floor(paper_radius * height / paper_height + 0.5)))


def box_margins(size: tuple[int, int], style: str = "market") -> dict[str, int]:
    """Part-box margins (orig §2.5) at image size ``size``, scaled by H / paper H.

    Returns a dict with ``r`` / ``r_single`` (Market 6 / 10; DF whole body 10 / 20) and, for DF,
    ``r_partial`` / ``r_single_partial`` (20 / 40) and the nose shifts ``nose_whole`` (10) and
    ``nose_partial`` (25). At the paper sizes (H 128 Market, 256 DF) these are the original's (orig §2.5).
    """
    if style not in _PAPER_HEIGHT:
        raise ValueError(f"part_boxes: style must be 'market' or 'deepfashion', got {style!r}")
    h, paper = int(size[0]), _PAPER_HEIGHT[style]
    if style == "market":
        base = {"r": 6, "r_single": 10}
    else:
        base = {"r": 10, "r_single": 20, "r_partial": 20, "r_single_partial": 40,
                "nose_whole": 10, "nose_partial": 25}
    if h == paper:
        return base
    return {k: int(math.floor(v * h / paper + 0.5)) for k, v in base.items()}


def _check_size(size: Any) -> tuple[int, int]:
    if len(size) != 2 or int(size[0]) < 1 or int(size[1]) < 1:
        raise ValueError(f"size: expected (H, W) with positive entries, got {size!r}")
    return int(size[0]), int(size[1])


def _check_radius(radius: Any, fn: str) -> int:
    if int(radius) != radius or radius < 1:
        raise ValueError(f"{fn}: radius must be a positive integer (pixels), got {radius!r}")
    return int(radius)


def _int_coords(rcv: Any) -> tuple[Any, Any, Any]:
    """Truncated (toward zero, like ``int()`` / ``tf.cast``) rows, cols and the visibility mask."""
    if _is_torch(rcv):
        return rcv[..., 0].trunc().long(), rcv[..., 1].trunc().long(), rcv[..., 2] >= 0.5
    rcv = np.asarray(rcv)
    return (np.trunc(rcv[..., 0]).astype(np.int64), np.trunc(rcv[..., 1]).astype(np.int64),
            rcv[..., 2] >= 0.5)


# ---------------------------------------------------------------------------------------------
# Heatmap (orig §2.3)
# ---------------------------------------------------------------------------------------------


def pose_heatmap(rcv: Any, size: tuple[int, int], radius: int = 4) -> Any:
    """18-channel binary pose map: a solid disk of +1 around each visible keypoint, -1 elsewhere.

    orig §2.3: the original scatters one +1 pixel at ``[int(r), int(c)]`` and inflates it with the
    49 offsets {(i, j): i² + j² ≤ 16}, zero-padded. So pixel (y, x) of channel k is +1 iff
    (y − int r)² + (x − int c)² ≤ radius², the disk is clipped at the border, and a keypoint whose
    truncated position lies outside the image contributes *nothing* (the scatter drops it; note that
    ``int()`` truncates toward zero, so r ∈ (−1, 0) lands on row 0). For radius ≠ 4 the same integer
    disk rule is used (the original hard-codes radius 4). For decoded poses this equals
    ``py_poseInflate``: :func:`denormalize_rcv` keeps centres in the image, where both rules agree.

    Args:
        rcv: (18, 3) or (B, 18, 3), NumPy or torch (any device).
        size: (H, W) of the image.
        radius: disk radius in pixels (4 at Market/DF size; :func:`scaled_radius` for others).

    Returns:
        float32 (18, H, W) or (B, 18, H, W) in {-1, +1}, NumPy or torch on ``rcv``'s device.
    """
    validate_rcv(rcv)
    h, w = _check_size(size)
    radius = _check_radius(radius, "pose_heatmap")
    r, c, vis = _int_coords(rcv)
    inside = vis & (r >= 0) & (r < h) & (c >= 0) & (c < w)
    if _is_torch(rcv):
        dev = rcv.device
        # Half-width of the disk per row offset d: |dx| ≤ floor(sqrt(R² − d²)), −1 outside |d| ≤ R.
        half = torch.tensor([math.isqrt(radius**2 - d * d) for d in range(radius + 1)] + [-1],
                            device=dev)  # exact integers; no float64 (unsupported on MPS)
        dy = (torch.arange(h, device=dev) - r[..., None]).abs().clamp(max=radius + 1)  # (…,18,H)
        dx = (torch.arange(w, device=dev) - c[..., None]).abs()  # (…, 18, W)
        half_row = torch.where(inside[..., None], half[dy], -1)  # (…, 18, H); −1: nothing on row
        on = dx[..., None, :] <= half_row[..., :, None]  # (…, 18, H, W)
        return on.float().mul_(2).sub_(1)
    yy = np.arange(h)[:, None]
    xx = np.arange(w)[None, :]
    d2 = (yy - r[..., None, None]) ** 2 + (xx - c[..., None, None]) ** 2  # (…, 18, H, W)
    on = (d2 <= radius**2) & inside[..., None, None]
    return np.where(on, 1.0, -1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Pose mask (orig §2.4)
# ---------------------------------------------------------------------------------------------


def _limb_points_np(r0: int, c0: int, r1: int, c1: int, radius: int) -> list[tuple[int, int]]:
    """Centres stamped for one limb by ``_getPoseMask`` (Python-2 semantics, ints in and out)."""
    pts = [(r0, c0), (r1, c1)]
    sample_n = int(math.sqrt((r0 - r1) ** 2 + (c0 - c1) ** 2) / radius)
    if sample_n > 1:
        # Python 2 ``(r1-r0)*i/sampleN`` on ints is floor division (rounds toward −inf).
        pts += [(r0 + (r1 - r0) * i // sample_n, c0 + (c1 - c0) * i // sample_n)
                for i in range(1, sample_n)]
    return pts


def _closing_np(mask: np.ndarray) -> np.ndarray:
    """5×5 square dilation then erosion as the original's skimage closing (orig §2.4).

    ``scipy.ndimage.grey_closing`` with ``mode="reflect"`` (numpy's 'symmetric': edge pixels
    repeated) at both steps, so a mask touching the border stays 1 there; ``binary_closing``'s
    default (``border_value=0``) would erode it. ``tests/test_pose_closing.py`` checks it bit for
    bit against the hand-written version it replaced, which was 10-20× slower
    (``benchmarks/bench_library_swaps.py``).
    """
    from scipy import ndimage  # lazily: the torch path (training batches) does not need scipy

    return ndimage.grey_closing(mask, size=(_CLOSING_SIZE, _CLOSING_SIZE), mode="reflect")


def _pose_mask_np(rcv: np.ndarray, h: int, w: int, radius: int) -> np.ndarray:
    r, c, vis = _int_coords(rcv)
    ii, jj = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disk = ii**2 + jj**2 <= radius**2
    dense = np.zeros((h, w), dtype=np.uint8)
    for a, b in MASK_LIMBS:
        if not (vis[a] and vis[b]):
            continue  # only limbs with both endpoints detected are stamped
        for pr, pc in _limb_points_np(int(r[a]), int(c[a]), int(r[b]), int(c[b]), radius):
            # Disk pixels are clipped one by one (``_getSparseKeypoint``): a centre just outside
            # the image still stamps the part of its disk that falls inside.
            y0, y1, x0, x1 = pr - radius, pr + radius + 1, pc - radius, pc + radius + 1
            sy0, sy1, sx0, sx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
            if sy0 < sy1 and sx0 < sx1:
                dense[sy0:sy1, sx0:sx1] |= disk[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    return _closing_np(dense)


def _symmetric_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """numpy 'symmetric' (= scipy 'reflect') padding of the last two dims; F.pad lacks it."""
    x = torch.cat([x[..., :p, :].flip(-2), x, x[..., -p:, :].flip(-2)], dim=-2)
    return torch.cat([x[..., :p].flip(-1), x, x[..., -p:].flip(-1)], dim=-1)


def _pose_mask_torch(rcv: torch.Tensor, h: int, w: int, radius: int) -> torch.Tensor:
    dev, bsz = rcv.device, rcv.shape[0]
    r, c, vis = _int_coords(rcv)  # (B, 18)
    limbs = torch.tensor(MASK_LIMBS, device=dev)  # (23, 2)
    r0, c0, r1, c1 = r[:, limbs[:, 0]], c[:, limbs[:, 0]], r[:, limbs[:, 1]], c[:, limbs[:, 1]]
    ok = vis[:, limbs[:, 0]] & vis[:, limbs[:, 1]]  # (B, 23)
    # sampleN = int(dist / radius), computed exactly in integers: largest n with (n·R)² ≤ d².
    d2 = (r0 - r1) ** 2 + (c0 - c1) ** 2
    n = (d2.float().sqrt() / radius).floor().long()
    n = n + ((n + 1) ** 2 * radius**2 <= d2).long()
    n = n - (n**2 * radius**2 > d2).long()
    n = torch.where(ok, n, torch.zeros_like(n))
    n_max = max(int(n.max()) if n.numel() else 0, 1)
    i = torch.arange(1, n_max, device=dev)  # intermediate indices 1..n_max-1, (K,)
    den = n.clamp(min=1)[..., None]
    ri = r0[..., None] + torch.div((r1 - r0)[..., None] * i, den, rounding_mode="floor")
    ci = c0[..., None] + torch.div((c1 - c0)[..., None] * i, den, rounding_mode="floor")
    inter_ok = ok[..., None] & (n[..., None] > 1) & (i < n[..., None])  # (B, 23, K)
    pr = torch.cat([r0, r1, ri.flatten(1)], dim=1)  # (B, P) all stamped centres
    pc = torch.cat([c0, c1, ci.flatten(1)], dim=1)
    pok = torch.cat([ok, ok, inter_ok.flatten(1)], dim=1)
    # Scatter centres into a canvas padded by R so centres just outside still stamp their part.
    hp, wp = h + 2 * radius, w + 2 * radius
    pr, pc = pr + radius, pc + radius
    pok = pok & (pr >= 0) & (pr < hp) & (pc >= 0) & (pc < wp)
    b_idx = torch.arange(bsz, device=dev)[:, None].expand_as(pr)
    flat = torch.where(pok, (b_idx * hp + pr) * wp + pc, torch.full_like(pr, bsz * hp * wp))
    canvas = torch.zeros(bsz * hp * wp + 1, device=dev)  # last cell swallows rejected points
    canvas[flat.flatten()] = 1.0
    canvas = canvas[:-1].view(bsz, 1, hp, wp)
    ii = torch.arange(-radius, radius + 1, device=dev)
    disk = ((ii[:, None] ** 2 + ii[None, :] ** 2) <= radius**2).float()[None, None]
    dense = (F.conv2d(canvas, disk) > 0.5).float()  # (B, 1, H, W); valid conv crops the padding
    p = _CLOSING_SIZE // 2
    dense = F.max_pool2d(_symmetric_pad(dense, p), _CLOSING_SIZE, stride=1)  # dilation
    dense = -F.max_pool2d(-_symmetric_pad(dense, p), _CLOSING_SIZE, stride=1)  # erosion
    return dense[:, 0].to(torch.uint8)


def pose_mask(rcv: Any, size: tuple[int, int], radius: int) -> Any:
    """Binary foreground mask from the pose: limbs stamped with disks, then closed (orig §2.4).

    Transcribes ``_getPoseMask``: for each of the 23 :data:`MASK_LIMBS` whose two endpoints are
    visible, a solid disk (i² + j² ≤ radius²) is stamped at both endpoints and, when
    ``sampleN = int(dist / radius) > 1``, at ``p0 + (p1 − p0)·i / sampleN`` for i = 1..sampleN−1.
    Coordinates are first truncated to int (the original's OpenPose peaks are ints); the division
    is then Python-2 integer division, i.e. *floor* division, which we reproduce. Keypoints not in a
    complete limb are not stamped. Disk pixels are clipped one by one, so (unlike the heatmap) a
    centre just outside the image stamps the in-image part of its disk; data keypoints lie inside
    the image, where both rules agree. Finally a 5×5 square dilation then erosion with skimage's
    border handling (scipy 'reflect' = numpy 'symmetric': edge pixels repeated), so a mask touching
    the border stays 1 there.

    Args:
        rcv: (18, 3) or (B, 18, 3), NumPy or torch.
        size: (H, W).
        radius: disk radius in pixels (Market fg/bg 7, DF evaluation 4; scale for other sizes).

    Returns:
        uint8 {0, 1} of shape (H, W) or (B, H, W); a torch tensor on ``rcv``'s device for torch input.
    """
    validate_rcv(rcv)
    h, w = _check_size(size)
    radius = _check_radius(radius, "pose_mask")
    if _is_torch(rcv):
        out = _pose_mask_torch(rcv.reshape(-1, NUM_KEYPOINTS, 3), h, w, radius)
        return out[0] if rcv.dim() == 2 else out
    rcv = np.asarray(rcv)
    if rcv.ndim == 2:
        return _pose_mask_np(rcv, h, w, radius)
    return np.stack([_pose_mask_np(p, h, w, radius) for p in rcv]).reshape(-1, h, w)


# ---------------------------------------------------------------------------------------------
# Part boxes (orig §2.5)
# ---------------------------------------------------------------------------------------------


def _part_boxes_np(rcv: np.ndarray, h: int, w: int, style: str) -> tuple[np.ndarray, np.ndarray]:
    m = box_margins((h, w), style)
    r, c, vis = _int_coords(rcv)
    r = r.copy()
    r_multi, r_single = m["r"], m["r_single"]
    if style == "deepfashion":
        whole = (vis[12] or vis[13]) and (vis[9] or vis[10])  # parts 14 and 16 visible
        if not whole:
            r_multi, r_single = m["r_partial"], m["r_single_partial"]
        if vis[0]:  # nose moved up (head box taller) before any box containing it
            r[0] = max(0, r[0] - (m["nose_whole"] if whole else m["nose_partial"]))
    boxes = np.zeros((len(PART_GROUPS), 4), dtype=np.int64)
    box_vis = np.zeros(len(PART_GROUPS), dtype=np.float32)
    for p, group in enumerate(PART_GROUPS):
        ks = [k for k in group if vis[k]]
        if not ks:
            boxes[p] = (0, 0, 1, 1)
            continue
        box_vis[p] = 1.0
        pad = r_multi if len(ks) > 1 else r_single
        ys, xs = r[ks], c[ks]
        # The original clips one side each (max(0, y1−r), min(H−1, y2+r)); clipping both sides is
        # the same for in-image keypoints and keeps y1 ≤ y2 for keypoints outside the image.
        boxes[p] = (np.clip(ys.min() - pad, 0, h - 1), np.clip(xs.min() - pad, 0, w - 1),
                    np.clip(ys.max() + pad, 0, h - 1), np.clip(xs.max() + pad, 0, w - 1))
    return boxes, box_vis


def part_boxes_batch(rcv: torch.Tensor, size: tuple[int, int],
                     style: str = "market") -> tuple[torch.Tensor, torch.Tensor]:
    """Vectorised :func:`part_boxes` for a (B, 18, 3) tensor → int64 (B, 7, 4), float32 (B, 7)."""
    validate_rcv(rcv)
    h, w = _check_size(size)
    m = box_margins((h, w), style)
    squeeze = rcv.dim() == 2
    rcv = rcv.reshape(-1, NUM_KEYPOINTS, 3)
    dev = rcv.device
    r, c, vis = _int_coords(rcv)  # (B, 18)
    bsz = rcv.shape[0]
    r_multi = torch.full((bsz,), m["r"], device=dev, dtype=torch.long)
    r_single = torch.full((bsz,), m["r_single"], device=dev, dtype=torch.long)
    if style == "deepfashion":
        whole = (vis[:, 12] | vis[:, 13]) & (vis[:, 9] | vis[:, 10])
        r_multi = torch.where(whole, r_multi, torch.full_like(r_multi, m["r_partial"]))
        r_single = torch.where(whole, r_single, torch.full_like(r_single, m["r_single_partial"]))
        shift = torch.full_like(r_multi, m["nose_partial"])
        shift = torch.where(whole, torch.full_like(shift, m["nose_whole"]), shift)
        nose = torch.where(vis[:, 0], (r[:, 0] - shift).clamp(min=0), r[:, 0])
        r = torch.cat([nose[:, None], r[:, 1:]], dim=1)
    groups = torch.zeros(len(PART_GROUPS), NUM_KEYPOINTS, dtype=torch.bool, device=dev)
    for p, group in enumerate(PART_GROUPS):
        groups[p, list(group)] = True
    sel = vis[:, None, :] & groups[None]  # (B, 7, 18)
    count = sel.sum(-1)  # (B, 7)
    big = torch.iinfo(torch.long).max // 4
    lo = lambda v: torch.where(sel, v[:, None, :], big).amin(-1)  # noqa: E731
    hi = lambda v: torch.where(sel, v[:, None, :], -big).amax(-1)  # noqa: E731
    pad = torch.where(count > 1, r_multi[:, None], r_single[:, None])  # (B, 7)
    boxes = torch.stack([(lo(r) - pad).clamp(0, h - 1), (lo(c) - pad).clamp(0, w - 1),
                         (hi(r) + pad).clamp(0, h - 1), (hi(c) + pad).clamp(0, w - 1)], dim=-1)
    invisible = torch.tensor([0, 0, 1, 1], device=dev, dtype=torch.long)
    boxes = torch.where((count > 0)[..., None], boxes, invisible)
    box_vis = (count > 0).float()
    return (boxes[0], box_vis[0]) if squeeze else (boxes, box_vis)


def part_boxes(rcv: Any, size: tuple[int, int], style: str = "market") -> tuple[Any, Any]:
    """The 7 body-part boxes and their visibility (orig §2.5, parts 1-7 of ``get_part_bbox37``).

    A part is visible if any of its keypoints is. Its box is the min/max of the visible (row, col)
    (int-truncated), expanded on every side by ``r`` if ≥ 2 keypoints are visible (two at the same
    pixel count as two, as in the original) or by ``r_single`` if exactly one is, then clipped to
    [0, H−1] × [0, W−1]. Invisible parts get [0, 0, 1, 1] and visibility 0.

    - ``style="market"``: r = 6, r_single = 10 (convert_market.py).
    - ``style="deepfashion"``: WholeBody = (l_knee or l_ankle) and (r_knee or r_ankle) visible
      (the original's parts 14 and 16); r, r_single = 10, 20 if WholeBody else 20, 40; the nose row
      is moved up by 10 (WholeBody) or 25 px, clipped at 0, before the boxes containing it (part 1).

    Margins and the nose shift scale with H / 128 (Market) or H / 256 (DF), rounded half-up, at
    other sizes (:func:`box_margins`). The original clips only y1, x1 at 0 and y2, x2 at the far
    border; we clip all four both ways (same boxes for in-image keypoints, and y1 ≤ y2, x1 ≤ x2 even
    for keypoints outside the image).

    Args:
        rcv: (18, 3) or (B, 18, 3), NumPy or torch.
        size: (H, W).
        style: "market" | "deepfashion".

    Returns:
        boxes int64 (…, 7, 4) as (y1, x1, y2, x2) pixels and vis float32 (…, 7); torch for torch.
    """
    if _is_torch(rcv):
        return part_boxes_batch(rcv, size, style)
    validate_rcv(rcv)
    h, w = _check_size(size)
    box_margins((h, w), style)  # validates the style
    rcv = np.asarray(rcv)
    if rcv.ndim == 2:
        return _part_boxes_np(rcv, h, w, style)
    out = [_part_boxes_np(p, h, w, style) for p in rcv]
    return (np.stack([o[0] for o in out]).reshape(-1, 7, 4),
            np.stack([o[1] for o in out]).reshape(-1, 7))


# ---------------------------------------------------------------------------------------------
# Flip and normalisation (orig §3.7)
# ---------------------------------------------------------------------------------------------


def flip_rcv(rcv: Any, width: int) -> Any:
    """Keypoints of the horizontally mirrored image (``img[..., ::-1]``), left/right swapped.

    A visible keypoint's column becomes W − 1 − col, which is exactly where pixel ``col`` of the
    image lands after ``img[..., ::-1]`` (for the integer columns of the data; a fractional column
    may truncate to a neighbouring pixel). Invisible entries keep their values, so missing stays
    (0, 0, 0). Flipping twice is the identity.

    Args:
        rcv: (18, 3) or (B, 18, 3), NumPy or torch.
        width: W of the image.

    Returns:
        Same type, shape and dtype as ``rcv``.
    """
    validate_rcv(rcv)
    perm = list(FLIP_PERMUTATION)
    out = rcv[..., perm, :].clone() if _is_torch(rcv) else np.array(rcv)[..., perm, :].copy()
    vis = out[..., 2] >= 0.5
    mirrored = (width - 1) - out[..., 1]
    out[..., 1] = torch.where(vis, mirrored, out[..., 1]) if _is_torch(rcv) else \
        np.where(vis, mirrored, out[..., 1])
    return out


def normalize_rcv(rcv: Any, size: tuple[int, int]) -> Any:
    """Pose auto-encoder input (orig §3.7): (…, 18, 3) pixels → (…, 54) interleaved (R, C, V).

    R = r / H · 2 − 1 and C = c / W · 2 − 1, V unchanged; a missing (0, 0, 0) becomes (−1, −1, 0).
    """
    validate_rcv(rcv)
    h, w = _check_size(size)
    if _is_torch(rcv):
        scale = torch.tensor([2.0 / h, 2.0 / w, 1.0], device=rcv.device, dtype=rcv.dtype)
        shift = torch.tensor([1.0, 1.0, 0.0], device=rcv.device, dtype=rcv.dtype)
    else:
        rcv = np.asarray(rcv, dtype=np.float32)
        scale = np.array([2.0 / h, 2.0 / w, 1.0], dtype=np.float32)
        shift = np.array([1.0, 1.0, 0.0], dtype=np.float32)
    out = rcv * scale - shift
    return out.reshape(tuple(out.shape[:-2]) + (3 * NUM_KEYPOINTS,))


def denormalize_rcv(vec: Any, size: tuple[int, int], clip: bool = True) -> Any:
    """Inverse of :func:`normalize_rcv`, following ``py_poseInflate`` (orig §2.3 item 4).

    r = (R + 1) / 2 · H and c = (C + 1) / 2 · W, clipped to [0, H−1] / [0, W−1] when ``clip``;
    keypoints with V < 0.5 become (0, 0, 0) and the others get v = 1.

    Args:
        vec: (…, 54) or (…, 18, 3) in normalised units, NumPy or torch.
        size: (H, W).
        clip: keep coordinates inside the image (the original always does).

    Returns:
        rcv (…, 18, 3) in pixels (float, not truncated).
    """
    h, w = _check_size(size)
    shape = tuple(vec.shape)
    if shape[-1] == 3 * NUM_KEYPOINTS:
        vec = vec.reshape(shape[:-1] + (NUM_KEYPOINTS, 3))
    elif shape[-2:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"denormalize_rcv: expected (…, 54) or (…, 18, 3), got {shape}")
    if _is_torch(vec):
        vis = (vec[..., 2] >= 0.5).to(vec.dtype)
        r, c = (vec[..., 0] + 1) / 2 * h, (vec[..., 1] + 1) / 2 * w
        if clip:
            r, c = r.clamp(0, h - 1), c.clamp(0, w - 1)
        return torch.stack([r * vis, c * vis, vis], dim=-1)
    vec = np.asarray(vec, dtype=np.float32)
    vis = (vec[..., 2] >= 0.5).astype(np.float32)
    r, c = (vec[..., 0] + 1) / 2 * h, (vec[..., 1] + 1) / 2 * w
    if clip:
        r, c = np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)
    return np.stack([r * vis, c * vis, vis], axis=-1).astype(np.float32)
