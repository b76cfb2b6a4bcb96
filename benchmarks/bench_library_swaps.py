"""Hand-written SSIM and pose-mask closing vs the libraries that replaced them, on the evaluation workload.

Not part of the paper. dpiglib keeps its own version of something a maintained library already
does only when it is at least 3× faster where it matters (the review rule). This script is the
evidence for two such decisions, kept with its result (``benchmarks/results/library_swaps.json``):

- **SSIM**: ``dpiglib.metrics.ssim`` (calls ``skimage.metrics.structural_similarity``) vs the
  hand-written transcription it had until then (copied below as :func:`own_ssim`). Workload: one
  evaluation batch, 64 generated/target uint8 pairs at 128×64 and 64×32, scored under every SSIM
  variant the protocols use, without masks and multiplied by the DPIG source pose masks (mask-SSIM),
  through :func:`dpiglib.metrics.ssim.ssim_variant` exactly as ``metrics.compute_metrics`` calls it;
  the hand-written version is timed by swapping it into that module.
- **Pose-mask closing** (orig §2.4): ``dpiglib.data.pose._closing_np`` (``scipy.ndimage.grey_closing``,
  reflect borders) vs the ``sliding_window_view`` max/min it replaced (:func:`own_closing`), on the
  64 stamped masks of a batch at 64×32, 128×64 and 256×256, and the whole NumPy ``pose_mask`` of
  64 poses (what data preparation and ``metrics.masks.dpig_source_mask`` run).

Each row also records the largest difference between the two results (SSIM: absolute; closing:
number of differing pixels). Timings are medians of round-robin repeats (the two versions
alternate, so load drift on a shared machine hits both alike); "speedup of own" is library time ÷
own time, so the rule asks for ≥ 3.

    python benchmarks/bench_library_swaps.py            # writes benchmarks/results/library_swaps.json
    python benchmarks/bench_library_swaps.py --quick    # smoke: 8 pairs, no JSON
"""

from __future__ import annotations

import contextlib
import importlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import base_parser, environment, output_path, print_table, write_json  # noqa: E402

from dpiglib.data import pose as P  # noqa: E402
from dpiglib.metrics.masks import apply_mask, dpig_source_mask  # noqa: E402

S = importlib.import_module("dpiglib.metrics.ssim")  # the module; the package exports a function

SPEEDUP_RULE = 3.0
SSIM_SIZES = ((128, 64), (64, 32))
CLOSING_SIZES = ((64, 32), (128, 64), (256, 256))
#: (variant, masked) as the protocols score them: dpig ssim + mask_ssim, patn ssim + mask_ssim,
#: gfla ssim (51 px window: 128×64 only) + ssim_256, clean ssim.
SSIM_CASES = (("dpig", False), ("dpig_mask", True), ("patn", False), ("patn", True),
              ("gfla", False), ("gfla_256", False), ("clean", False))


# --------------------------------------------------------------------------------------------
# The hand-written versions, verbatim from dpiglib before the swap (commit 3c9b5fc)
# --------------------------------------------------------------------------------------------

_GRAY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])


def own_rgb2gray(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    scale = 255.0 if img.dtype == np.uint8 else 1.0
    return (img.astype(np.float64) / scale) @ _GRAY_WEIGHTS


def _own_ssim_2d(x, y, *, data_range, gaussian, sigma, win, sample_covariance, k1, k2) -> float:
    from scipy import ndimage

    if gaussian:
        def filt(a):
            return ndimage.gaussian_filter(a, sigma=sigma, truncate=3.5, mode="reflect")
    else:
        def filt(a):
            return ndimage.uniform_filter(a, size=win)
    n_px = win ** 2
    cov_norm = n_px / (n_px - 1) if sample_covariance else 1.0
    ux, uy = filt(x), filt(y)
    vx = cov_norm * (filt(x * x) - ux * ux)
    vy = cov_norm * (filt(y * y) - uy * uy)
    vxy = cov_norm * (filt(x * y) - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return float(s_map[pad:s_map.shape[0] - pad, pad:s_map.shape[1] - pad].mean(dtype=np.float64))


def own_ssim(x, y, *, data_range, gaussian=False, sigma=1.5, win_size=None,
             sample_covariance=True, k1=0.01, k2=0.03) -> float:
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        raise ValueError(f"SSIM inputs differ in shape: {x.shape} vs {y.shape}")
    win = S.window_size(gaussian, sigma, win_size)
    if min(x.shape[:2]) < win:
        raise ValueError(f"SSIM window {win}×{win} exceeds the image size {x.shape[:2]}")
    x, y = x.astype(np.float64), y.astype(np.float64)
    kw = dict(data_range=float(data_range), gaussian=gaussian, sigma=sigma, win=win,
              sample_covariance=sample_covariance, k1=k1, k2=k2)
    if x.ndim == 2:
        return _own_ssim_2d(x, y, **kw)
    return float(np.mean([_own_ssim_2d(x[..., c], y[..., c], **kw) for c in range(x.shape[2])]))


def own_closing(mask: np.ndarray) -> np.ndarray:
    p = 5 // 2
    win = np.lib.stride_tricks.sliding_window_view
    dil = win(np.pad(mask, p, mode="symmetric"), (5, 5)).max(axis=(-2, -1))
    return win(np.pad(dil, p, mode="symmetric"), (5, 5)).min(axis=(-2, -1))


@contextlib.contextmanager
def swapped(module: Any, **attrs: Any):
    """Temporarily replace module attributes (the variants look ``ssim``/``rgb2gray`` up by name)."""
    old = {k: getattr(module, k) for k in attrs}
    for k, v in attrs.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


# --------------------------------------------------------------------------------------------
# Workload and timing
# --------------------------------------------------------------------------------------------


def _images(rng: np.random.Generator, n: int, h: int, w: int) -> tuple[list, list]:
    """``n`` smooth person-like uint8 images and noisy, shifted 'generated' versions of them."""
    from scipy import ndimage

    base = ndimage.gaussian_filter(rng.normal(128, 60, (n, h, w, 3)), (0, 2, 2, 0))
    tgt = np.clip(base, 0, 255).astype(np.uint8)
    gen = np.clip(np.roll(base, 1, axis=2) + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    return list(gen), list(tgt)


def _poses(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Standing-person-like poses: a random box per image, keypoints inside it, 85 % visible."""
    out = np.zeros((n, 18, 3), np.float32)
    for k in range(n):
        top, bottom = rng.uniform(0, 0.2 * h), rng.uniform(0.8 * h, h - 1)
        left, right = rng.uniform(0, 0.3 * w), rng.uniform(0.7 * w, w - 1)
        vis = rng.random(18) < 0.85
        out[k, :, 0] = rng.uniform(top, bottom, 18) * vis
        out[k, :, 1] = rng.uniform(left, right, 18) * vis
        out[k, :, 2] = vis
    return out


def round_robin(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, the functions alternating within each repeat.

    No warm-up here: the callers have already run every function once (the comparison).
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_ssim(n: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for h, w in SSIM_SIZES:
        rng = np.random.default_rng(h)
        gen, tgt = _images(rng, n, h, w)
        masks = [dpig_source_mask(p, (h, w), P.scaled_radius(7, h)) for p in _poses(rng, n, h, w)]
        for variant, masked in SSIM_CASES:
            gs = [apply_mask(g, m) for g, m in zip(gen, masks)] if masked else gen
            ts = [apply_mask(t, m) for t, m in zip(tgt, masks)] if masked else tgt
            if variant == "gfla" and min(h, w) < 51:
                continue  # its 51-px window does not fit 64×32 (the protocol: unavailable)

            def library(gs=gs, ts=ts, variant=variant):
                return [S.ssim_variant(variant, g, t)[0] for g, t in zip(gs, ts)]

            def own(gs=gs, ts=ts, variant=variant):
                with swapped(S, ssim=own_ssim, rgb2gray=own_rgb2gray):
                    return [S.ssim_variant(variant, g, t)[0] for g, t in zip(gs, ts)]

            diff = float(np.max(np.abs(np.subtract(library(), own()))))  # also the warm-up
            t = round_robin({"library": library, "own": own}, repeats)
            rows.append({"size": f"{h}x{w}", "variant": variant, "masked": masked, "pairs": n,
                         "library_ms": 1000 * t["library"], "own_ms": 1000 * t["own"],
                         "speedup_of_own": t["library"] / t["own"], "max_abs_diff": diff})
    return rows


def bench_closing(n: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for h, w in CLOSING_SIZES:
        rng = np.random.default_rng(h + w)
        radius = P.scaled_radius(7, h)  # Market's fg/bg radius, scaled
        rcv = _poses(rng, n, h, w)
        with swapped(P, _closing_np=lambda m: m):  # the stamped masks, before the closing
            raw = [P._pose_mask_np(p, h, w, radius) for p in rcv]

        def library():
            return [P._closing_np(m) for m in raw]

        def own():
            return [own_closing(m) for m in raw]

        def library_full():
            return P.pose_mask(rcv, (h, w), radius)

        def own_full():
            with swapped(P, _closing_np=own_closing):
                return P.pose_mask(rcv, (h, w), radius)

        differing = int(sum((a != b).sum() for a, b in zip(library(), own())))  # + warm-up
        differing_full = int((library_full() != own_full()).sum())
        t = round_robin({"library": library, "own": own, "library_full": library_full,
                         "own_full": own_full}, repeats)
        rows.append({"size": f"{h}x{w}", "what": "closing only", "masks": n,
                     "library_ms": 1000 * t["library"], "own_ms": 1000 * t["own"],
                     "speedup_of_own": t["library"] / t["own"], "differing_pixels": differing})
        rows.append({"size": f"{h}x{w}", "what": "pose_mask (numpy)", "masks": n,
                     "library_ms": 1000 * t["library_full"], "own_ms": 1000 * t["own_full"],
                     "speedup_of_own": t["library_full"] / t["own_full"],
                     "differing_pixels": differing_full})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = base_parser(__doc__)
    ap.add_argument("--pairs", type=int, default=None, help="image pairs / masks per batch (64)")
    args = ap.parse_args(argv)
    n = args.pairs or (8 if args.quick else 64)
    repeats = args.repeats or 3
    import torch

    ssim_rows = bench_ssim(n, repeats)
    print_table(f"SSIM of a batch of {n} pairs: skimage (library) vs the hand-written copy (own)",
                ssim_rows, ["size", "variant", "masked", "library_ms", "own_ms", "speedup_of_own",
                            "max_abs_diff"])
    closing_rows = bench_closing(n, repeats)
    print_table(f"5x5 pose-mask closing of {n} masks: scipy.ndimage (library) vs own",
                closing_rows, ["size", "what", "library_ms", "own_ms", "speedup_of_own",
                               "differing_pixels"])
    best = max(r["speedup_of_own"] for r in ssim_rows + closing_rows)
    keep = best >= SPEEDUP_RULE
    print(f"largest speedup of a hand-written version: {best:.2f}x (rule: keep own if >= "
          f"{SPEEDUP_RULE:.0f}x) -> {'keep one' if keep else 'use the libraries'}")
    env = environment(torch.device("cpu"))
    from dpiglib.core.runtime_info import package_versions

    env["versions"].update(package_versions(("scipy", "scikit-image")))
    write_json(output_path("library_swaps", args), {
        "benchmark": "library_swaps", "pairs": n, "repeats": repeats, "environment": env,
        "speedup_rule": SPEEDUP_RULE, "largest_speedup_of_own": best, "keep_own": keep,
        "ssim": ssim_rows, "closing": closing_rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
