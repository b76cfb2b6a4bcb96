"""LPIPS-AlexNet (Zhang et al. 2018, v0.1) from user-provided weights, or "unavailable" (orig §6.6).

GFLA and its descendants report LPIPS with ``net='alex'``, inputs in [−1, 1]. No wheel ships the
weights, so both files must be provided (docs/metrics.md): torchvision's
``alexnet-owt-7be5be79.pth`` (the backbone) and PerceptualSimilarity's ``weights/v0.1/alex.pth``
(the linear heads). Without them the metric is reported unavailable; it is never estimated.

The network, as in ``lpips.LPIPS(net='alex', version='0.1')``: scale the input with shift
(−.030, −.088, −.188) and scale (.458, .448, .450); take the five AlexNet ReLU outputs; normalise
each over channels; square the difference; weight the channels with the 1×1 ``lin`` convolutions;
average over space; sum over the five layers. Every image pair is used (no dropped batches,
orig §6.8 item 7).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torch.nn as nn

__all__ = ["LPIPSAlex", "lpips_model", "lpips_distances"]

_CHANNELS = (64, 192, 384, 256, 256)
_SLICES = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))  # torchvision alexnet.features → relu1..relu5


class LPIPSAlex(nn.Module):
    """LPIPS v0.1 with the AlexNet backbone. forward(x, y): (B, 3, H, W) in [−1, 1] → (B,)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import alexnet

        self.features = alexnet(weights=None).features
        self.register_buffer("shift", torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([.458, .448, .450]).view(1, 3, 1, 1))
        # lin{k}.model = Sequential(Dropout, Conv2d(C, 1, 1, bias=False)): the weights file's layout
        for k, c in enumerate(_CHANNELS):
            self.add_module(f"lin{k}", nn.Module())
            getattr(self, f"lin{k}").model = nn.Sequential(nn.Dropout(), nn.Conv2d(c, 1, 1, bias=False))

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        out = []
        for a, b in _SLICES:
            for i in range(a, b):
                x = self.features[i](x)
            out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = 0
        for k, (fx, fy) in enumerate(zip(self._feats(x), self._feats(y))):
            total = total + getattr(self, f"lin{k}").model((fx - fy) ** 2).mean(dim=(2, 3))
        return total.flatten()


@functools.lru_cache(maxsize=2)
def _load(backbone: str, heads: str, device: str) -> LPIPSAlex:
    net = LPIPSAlex()
    bb = torch.load(backbone, map_location="cpu", weights_only=True)
    net.features.load_state_dict({k[len("features."):]: v for k, v in bb.items()
                                  if k.startswith("features.")})
    missing = net.load_state_dict(torch.load(heads, map_location="cpu", weights_only=True),
                                  strict=False)
    bad = [k for k in missing.missing_keys if k.startswith("lin")]
    if bad or missing.unexpected_keys:
        raise RuntimeError(f"{heads}: not an LPIPS v0.1 alex.pth (missing {bad}, unexpected "
                           f"{missing.unexpected_keys})")
    return net.eval().to(device)


def lpips_model(weights_dir=None, device: str = "cpu") -> tuple[LPIPSAlex | None, dict[str, Any]]:
    """Build LPIPS-Alex from user weights, or ``(None, {"reason": ...})``."""
    from dpiglib.metrics.weights import find_user_weights, sha256_file

    try:
        import torchvision  # noqa: F401
    except ImportError:
        return None, {"reason": "torchvision is not installed (LPIPS uses its AlexNet)"}
    backbone, why = find_user_weights("torchvision_alexnet", weights_dir)
    if backbone is None:
        return None, {"reason": why}
    heads, why = find_user_weights("lpips_alex", weights_dir)
    if heads is None:
        return None, {"reason": why}
    net = _load(str(backbone), str(heads), str(device))
    return net, {"network": "LPIPS v0.1 alex", "weights_file": [str(backbone), str(heads)],
                 "weights_sha256": [sha256_file(backbone), sha256_file(heads)]}


@torch.no_grad()
def lpips_distances(net: LPIPSAlex, generated: list[np.ndarray], targets: list[np.ndarray],
                    device: str = "cpu", batch_size: int = 32) -> np.ndarray:
    """LPIPS of each uint8 (H, W, 3) pair → float64 (N,)."""
    out = []
    for i in range(0, len(generated), batch_size):
        def t(ims):
            x = torch.from_numpy(np.stack(ims)).permute(0, 3, 1, 2).float().to(device)
            return x / 127.5 - 1.0
        out.append(net(t(generated[i:i + batch_size]), t(targets[i:i + batch_size]))
                   .double().cpu().numpy())
    return np.concatenate(out)
