"""SSIM, written out once, with every protocol's settings as named variants (orig §6).

The structural similarity index of Wang et al. (2004) compares local means μ, variances σ² and the
covariance σ_xy inside a sliding window::

    SSIM(x, y) = mean over windows of (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))
    C1 = (K1 · L)², C2 = (K2 · L)², K1 = 0.01, K2 = 0.03, L = data range

:func:`ssim` computes exactly what ``skimage.metrics.structural_similarity`` computes (window by
``scipy.ndimage`` ``uniform_filter`` or ``gaussian_filter`` with ``truncate=3.5`` and ``reflect``
borders, a border of ``(win − 1) / 2`` pixels cropped before averaging, channels averaged), so each
knob is visible in one place; ``tests/test_metrics.py`` checks it against skimage on random images.
The protocols differ only in these knobs, and their numbers are not interchangeable (orig §6.8 item 2):

============== ======= ========= ========== =================== ======================= =========
variant         colour  window    sample cov data range          input                   source
============== ======= ========= ========== =================== ======================= =========
``dpig``        gray    7 uniform yes        target max − min    rgb2gray, [0, 1]        score.py
``dpig_mask``   RGB     7 uniform yes        255 (uint8)         uint8 · source mask     score_mask.py
``patn``        RGB     σ=1.5 G   no         generated max − min uint8 [0, 255]          getMetrics
``gfla``        RGB     51 unif.  yes        1                   [0, 1] floats           metrics.py
``gfla_256``    RGB     σ=1.5 G   no         generated max − min uint8 [0, 255]          metrics.py
``clean``       RGB     σ=1.5 G   no         255                 uint8 [0, 255]          ours
============== ======= ========= ========== =================== ======================= =========
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["ssim", "rgb2gray", "ssim_variant", "SSIM_VARIANTS", "window_size"]

# skimage.color.rgb2gray's ITU-R 709 luma weights (the original's score.py called rgb2gray).
_GRAY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])


def rgb2gray(img: np.ndarray) -> np.ndarray:
    """skimage's ``rgb2gray`` for uint8 RGB: float64 in [0, 1] (weights 0.2125, 0.7154, 0.0721).

    Args:
        img: uint8 (H, W, 3).

    Returns:
        float64 (H, W).
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb2gray expects an (H, W, 3) image, got shape {img.shape}")
    scale = 255.0 if img.dtype == np.uint8 else 1.0  # skimage's img_as_float
    return (img.astype(np.float64) / scale) @ _GRAY_WEIGHTS


def window_size(gaussian: bool, sigma: float = 1.5, win_size: int | None = None) -> int:
    """The window (and border crop) skimage uses: 7 uniform, or ``2·int(3.5σ + 0.5) + 1`` (11 for σ=1.5)."""
    if win_size is not None:
        return int(win_size)
    if gaussian:
        return 2 * int(3.5 * sigma + 0.5) + 1
    return 7


def _ssim_2d(x: np.ndarray, y: np.ndarray, *, data_range: float, gaussian: bool, sigma: float,
             win: int, sample_covariance: bool, k1: float, k2: float) -> float:
    if gaussian:
        def filt(a: np.ndarray) -> np.ndarray:
            return ndimage.gaussian_filter(a, sigma=sigma, truncate=3.5, mode="reflect")
    else:
        def filt(a: np.ndarray) -> np.ndarray:
            return ndimage.uniform_filter(a, size=win)
    n_px = win ** 2
    cov_norm = n_px / (n_px - 1) if sample_covariance else 1.0  # skimage: NP/(NP−1) vs Wang's 1
    ux, uy = filt(x), filt(y)
    vx = cov_norm * (filt(x * x) - ux * ux)
    vy = cov_norm * (filt(y * y) - uy * uy)
    vxy = cov_norm * (filt(x * y) - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2  # skimage ignores a filter-radius strip at the border
    return float(s_map[pad:s_map.shape[0] - pad, pad:s_map.shape[1] - pad].mean(dtype=np.float64))


def ssim(x: np.ndarray, y: np.ndarray, *, data_range: float, gaussian: bool = False,
         sigma: float = 1.5, win_size: int | None = None, sample_covariance: bool = True,
         k1: float = 0.01, k2: float = 0.03) -> float:
    """Mean SSIM of two images, with skimage's algorithm and explicit knobs.

    Args:
        x, y: (H, W) or (H, W, C) arrays of the same shape (any numeric dtype; computed in float64).
            SSIM is symmetric, so which one is the reference does not matter.
        data_range: L in C1 = (K1·L)², C2 = (K2·L)²; must be > 0.
        gaussian: Gaussian window (σ = ``sigma``, truncated at 3.5σ) instead of a uniform one.
        sigma: Gaussian σ.
        win_size: uniform window side (default 7); for Gaussian windows it only sets the border crop.
        sample_covariance: skimage's default N/(N−1) normalisation; False = Wang et al. 2004.
        k1, k2: the SSIM constants.

    Returns:
        Mean SSIM (over pixels, then over channels).

    Raises:
        ValueError: shape mismatch, data_range ≤ 0, or a window larger than the image (the message
            names the window and the image size).
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        raise ValueError(f"SSIM inputs differ in shape: {x.shape} vs {y.shape}")
    if not data_range > 0:
        raise ValueError(f"SSIM data_range must be > 0, got {data_range}")
    win = window_size(gaussian, sigma, win_size)
    if win % 2 != 1:
        raise ValueError(f"SSIM window must be odd, got {win}")
    if min(x.shape[:2]) < win:
        raise ValueError(f"SSIM window {win}×{win} exceeds the image size {x.shape[:2]}")
    x, y = x.astype(np.float64), y.astype(np.float64)
    kw = dict(data_range=float(data_range), gaussian=gaussian, sigma=sigma, win=win,
              sample_covariance=sample_covariance, k1=k1, k2=k2)
    if x.ndim == 2:
        return _ssim_2d(x, y, **kw)
    if x.ndim != 3:
        raise ValueError(f"SSIM expects (H, W) or (H, W, C) arrays, got shape {x.shape}")
    return float(np.mean([_ssim_2d(x[..., c], y[..., c], **kw) for c in range(x.shape[2])]))


def _range(img: np.ndarray) -> float:
    return float(np.max(img)) - float(np.min(img))


def _dpig(gen: np.ndarray, tgt: np.ndarray) -> tuple[float, dict]:
    # score.py: compare_ssim(G_gray, xt_gray, data_range=xt_gray.max()-xt_gray.min()) (orig §6.1)
    g, t = rgb2gray(gen), rgb2gray(tgt)
    rng = _range(t)
    degenerate = rng <= 0
    if degenerate:  # a flat target gives C1 = C2 = 0 and NaN in the original; use the gray range
        rng = 1.0
    return ssim(g, t, data_range=rng), {"degenerate_range": degenerate}


def _dpig_mask(gen: np.ndarray, tgt: np.ndarray) -> tuple[float, dict]:
    # score_mask.py: colour compare_ssim on the masked uint8 images, data range from the dtype
    return ssim(gen, tgt, data_range=255.0), {}


def _wang_generated_range(gen: np.ndarray, tgt: np.ndarray) -> tuple[float, dict]:
    # PATN getMetrics / GFLA ssim_256: gaussian σ=1.5, population covariance, generated range
    rng = _range(gen)
    degenerate = rng <= 0
    if degenerate:
        rng = 255.0
    return (ssim(gen, tgt, data_range=rng, gaussian=True, sigma=1.5, sample_covariance=False),
            {"degenerate_range": degenerate})


def _gfla(gen: np.ndarray, tgt: np.ndarray) -> tuple[float, dict]:
    # GFLA script/metrics.py ssim: compare_ssim(gt/255, pred/255, data_range=1, win_size=51)
    return ssim(gen.astype(np.float64) / 255.0, tgt.astype(np.float64) / 255.0, data_range=1.0,
                win_size=51), {}


def _clean(gen: np.ndarray, tgt: np.ndarray) -> tuple[float, dict]:
    # Our recommendation: Wang et al. 2004 settings with the fixed uint8 range, nothing image-dependent
    return ssim(gen, tgt, data_range=255.0, gaussian=True, sigma=1.5, sample_covariance=False), {}


SSIM_VARIANTS: dict[str, dict[str, Any]] = {
    "dpig": {"fn": _dpig, "colour": "gray (rgb2gray)", "window": "7x7 uniform",
             "sample_covariance": True, "data_range": "target max - min (gray, [0,1])",
             "source": "DPIG score.py (orig §6.1)"},
    "dpig_mask": {"fn": _dpig_mask, "colour": "RGB", "window": "7x7 uniform",
                  "sample_covariance": True, "data_range": "255 (uint8 dtype)",
                  "source": "DPIG score_mask.py (orig §6.2)"},
    "patn": {"fn": _wang_generated_range, "colour": "RGB", "window": "gaussian sigma=1.5 (11 taps)",
             "sample_covariance": False, "data_range": "generated max - min",
             "source": "PATN tool/getMetrics_*.py (orig §6.4)"},
    "gfla": {"fn": _gfla, "colour": "RGB", "window": "51x51 uniform", "sample_covariance": True,
             "data_range": "1 (images in [0,1])", "source": "GFLA script/metrics.py ssim (orig §6.6)"},
    "gfla_256": {"fn": _wang_generated_range, "colour": "RGB",
                 "window": "gaussian sigma=1.5 (11 taps)", "sample_covariance": False,
                 "data_range": "generated max - min",
                 "source": "GFLA script/metrics.py ssim_256 (orig §6.6)"},
    "clean": {"fn": _clean, "colour": "RGB", "window": "gaussian sigma=1.5 (11 taps)",
              "sample_covariance": False, "data_range": "255", "source": "dpiglib recommendation"},
}


def ssim_variant(name: str, generated: np.ndarray, target: np.ndarray) -> tuple[float, dict]:
    """SSIM of one uint8 pair under a named protocol variant (table in the module docstring).

    Args:
        name: a key of :data:`SSIM_VARIANTS`.
        generated, target: uint8 (H, W, 3), already masked/padded as the protocol asks.

    Returns:
        ``(value, info)``; ``info["degenerate_range"]`` is True when an image-dependent data range
        was 0 (a flat image) and a fixed range was used instead.
    """
    if name not in SSIM_VARIANTS:
        raise ValueError(f"unknown SSIM variant {name!r}; choose one of {', '.join(SSIM_VARIANTS)}")
    for what, img in (("generated", generated), ("target", target)):
        if np.asarray(img).dtype != np.uint8 or np.asarray(img).ndim != 3:
            raise ValueError(f"{what} image must be uint8 (H, W, 3), got "
                             f"{np.asarray(img).dtype} {np.asarray(img).shape}")
    return SSIM_VARIANTS[name]["fn"](np.asarray(generated), np.asarray(target))
