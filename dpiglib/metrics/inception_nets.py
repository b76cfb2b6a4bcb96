"""Inception-v3 networks that need user-provided weights (orig §6.1, orig §6.6).

* :func:`tf_inception_is_net`: the TF ``inception-2015-12-05`` graph as ported by pytorch-fid
  (``FIDInception*`` blocks: TF's average pools ignore padding, the last block max-pools), with its
  1008-way classifier. Canonical IS uses ``softmax(pool_3 · Wᵀ)`` **without the bias**, as the
  original ``tflib/inception_score.py`` (orig §6.1). Input: [0, 1] → bilinear 299×299 → 2x − 1.
* :func:`torchvision_inception_features`: GFLA's ``script/inception.py``: torchvision's ImageNet
  Inception-v3, bilinear resize to 299, input re-normalisation
  ``x·(std/0.5) + (mean − 0.5)/0.5`` on [0, 1] images, 2048-d average-pooled features. These are
  *not* the TF-FID weights: a GFLA-protocol FID is not comparable to a clean FID.

Both need torchvision (imported lazily) and a weights file found by
:func:`dpiglib.metrics.weights.find_user_weights`.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

__all__ = ["build_tf_inception", "tf_inception_is_net", "torchvision_inception_net",
           "tf_inception_probs", "torchvision_inception_features"]


def _fid_blocks():
    from torchvision.models import inception as tvi

    class FIDInceptionA(tvi.InceptionA):
        def forward(self, x):
            b1 = self.branch1x1(x)
            b5 = self.branch5x5_2(self.branch5x5_1(x))
            b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            # TF's average pool does not count the zero padding
            bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
            return torch.cat([b1, b5, b3, bp], 1)

    class FIDInceptionC(tvi.InceptionC):
        def forward(self, x):
            b1 = self.branch1x1(x)
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            bd = x
            for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                          self.branch7x7dbl_4, self.branch7x7dbl_5):
                bd = layer(bd)
            bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
            return torch.cat([b1, b7, bd, bp], 1)

    class FIDInceptionE(tvi.InceptionE):
        def __init__(self, in_channels, max_pool: bool):
            super().__init__(in_channels)
            self.max_pool = max_pool  # TF's last block (Mixed_7c) max-pools: pytorch-fid's E_2

        def forward(self, x):
            b1 = self.branch1x1(x)
            b3 = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
            bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
            if self.max_pool:
                bp = F.max_pool2d(x, 3, stride=1, padding=1)
            else:
                bp = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
            return torch.cat([b1, b3, bd, self.branch_pool(bp)], 1)

    return FIDInceptionA, FIDInceptionC, FIDInceptionE


def build_tf_inception() -> torch.nn.Module:
    """pytorch-fid's ``fid_inception_v3()`` architecture (1008 classes), without weights."""
    from torchvision.models.inception import Inception3

    A, C, E = _fid_blocks()
    net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
    net.Mixed_6b, net.Mixed_6c = C(768, 128), C(768, 160)
    net.Mixed_6d, net.Mixed_6e = C(768, 160), C(768, 192)
    net.Mixed_7b, net.Mixed_7c = E(1280, max_pool=False), E(2048, max_pool=True)
    return net


def _trunk(net, x: torch.Tensor) -> torch.Tensor:
    """Inception-v3 up to the 2048-d average pool ("pool_3"). x: (B, 3, 299, 299) → (B, 2048)."""
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
                 "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
                 "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
        x = getattr(net, name)(x)
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


@functools.lru_cache(maxsize=2)
def tf_inception_is_net(path: str, device: str) -> torch.nn.Module:
    """Load ``pt_inception-2015-12-05-6726825d.pth`` into :func:`build_tf_inception`."""
    net = build_tf_inception()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval().to(device)


@functools.lru_cache(maxsize=2)
def torchvision_inception_net(path: str, device: str) -> torch.nn.Module:
    """torchvision Inception-v3 with ``inception_v3_google-0cc3c7bd.pth`` (GFLA's FID network)."""
    from torchvision.models.inception import Inception3

    net = Inception3(num_classes=1000, aux_logits=True, init_weights=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval().to(device)


@torch.no_grad()
def tf_inception_probs(net: torch.nn.Module, x01: torch.Tensor) -> torch.Tensor:
    """1008-way p(y|x) of the TF graph for images in [0, 1], (B, 3, H, W) → (B, 1008) float64."""
    x = F.interpolate(x01, size=(299, 299), mode="bilinear", align_corners=False)
    pool3 = _trunk(net, 2 * x - 1)
    logits = pool3 @ net.fc.weight.t()  # no bias: tflib/inception_score.py (orig §6.1)
    return torch.softmax(logits.double(), 1)


@torch.no_grad()
def torchvision_inception_features(net: torch.nn.Module, x01: torch.Tensor) -> torch.Tensor:
    """GFLA ``script/inception.py`` features for images in [0, 1]: (B, 3, H, W) → (B, 2048)."""
    x = F.interpolate(x01, size=(299, 299), mode="bilinear", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406], device=x.device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=x.device).view(1, 3, 1, 1)
    return _trunk(net, x * (std / 0.5) + (mean - 0.5) / 0.5)
