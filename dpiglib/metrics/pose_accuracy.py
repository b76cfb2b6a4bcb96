"""Pose accuracy of generated images: keypoints detected on them against the target pose (orig §6.5).

Two scores over the same detections, never mixed:

* :func:`pckh_patn` reproduces PATN's ``tool/calPCKH_*.py``: the head box is the bounding box of
  the target's visible head keypoints (nose 0, neck 1, eyes 14/15, ears 16/17), of width w and
  height h; a joint is right when ``|Δcol| < 0.5·w`` **and** ``|Δrow| < 0.5·h`` (per axis). Score =
  right joints / target-visible joints. This is the number PATN's tables call PCKh (not MPII PCKh).
* :func:`pckh` is the MPII-style rule on the same head box: head size = 0.6 × the box diagonal
  (MPII's ``SC_BIAS``), a joint is right when its Euclidean error ≤ α · head size (α = 0.5).

A joint visible in the target but not detected counts as wrong; images whose target has fewer than
two visible head keypoints (no head box) are skipped and counted. The detector is any callable
``detect_keypoints(list of uint8 images) -> (N, 18, 3) rcv`` (e.g. the optional MediaPipe
estimator).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HEAD_KEYPOINTS", "head_box", "pckh", "pckh_patn"]

HEAD_KEYPOINTS = (0, 1, 14, 15, 16, 17)


def head_box(rcv: np.ndarray) -> tuple[float, float] | None:
    """(height, width) of the box around the visible head keypoints; None with < 2 of them."""
    rcv = np.asarray(rcv, dtype=np.float64)
    pts = rcv[list(HEAD_KEYPOINTS)]
    pts = pts[pts[:, 2] > 0]
    if len(pts) < 2:
        return None
    return float(pts[:, 0].max() - pts[:, 0].min()), float(pts[:, 1].max() - pts[:, 1].min())


def _check(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.ndim == 2:
        pred, target = pred[None], target[None]
    if pred.shape != target.shape or pred.shape[1:] != (18, 3):
        raise ValueError(f"pred and target must both be (N, 18, 3) rcv, got {pred.shape} and {target.shape}")
    return pred, target


def _score(pred, target, rule) -> dict[str, Any]:
    pred, target = _check(pred, target)
    right = total = skipped = 0
    for p, t in zip(pred, target):
        box = head_box(t)
        if box is None:
            skipped += 1
            continue
        vis_t = t[:, 2] > 0
        ok = vis_t & (p[:, 2] > 0) & rule(p, t, box)
        right += int(ok.sum())
        total += int(vis_t.sum())
    value = right / total if total else float("nan")
    return {"value": value, "joints": total, "correct": right, "images": len(pred) - skipped,
            "skipped_no_head": skipped}


def pckh_patn(pred: np.ndarray, target: np.ndarray, alpha: float = 0.5) -> dict[str, Any]:
    """PATN's per-axis "PCKh" (calPCKH). pred, target: (N, 18, 3) rcv in the same image frame."""
    def rule(p, t, box):
        h, w = box
        return (np.abs(p[:, 1] - t[:, 1]) < alpha * w) & (np.abs(p[:, 0] - t[:, 0]) < alpha * h)
    return _score(pred, target, rule)


def pckh(pred: np.ndarray, target: np.ndarray, alpha: float = 0.5) -> dict[str, Any]:
    """MPII-style PCKh@α with head size 0.6 × head-box diagonal. pred, target: (N, 18, 3) rcv."""
    def rule(p, t, box):
        size = 0.6 * float(np.hypot(*box))
        return np.hypot(p[:, 0] - t[:, 0], p[:, 1] - t[:, 1]) <= alpha * size
    return _score(pred, target, rule)
