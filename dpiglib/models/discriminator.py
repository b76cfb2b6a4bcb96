"""Stage-I image discriminator: the DCGAN D of ``WGAN_GP.DCGANDiscriminator`` (orig §3.5, orig B10).

conv5×5/2 (3→w) LReLU(0.2), then 3 × [conv5×5/2 → 2w, 4w, 8w, BatchNorm(ε=1e-5), LReLU(0.2)],
then a linear head. Weights U(±0.02·√3) (tflib ``set_weights_stdev(0.02)``), biases 0. Convs use
TF 'SAME' padding: 5×5 stride 2 on an even size pads 1 before and 2 after.

BatchNorm: tflib's fused batch norm always normalises with the *batch* statistics, at test time
too (orig §3.5). ``bn_always_train=True`` (default) reproduces that with
``track_running_stats=False``; ``False`` gives the usual running-statistics BN (a deviation).

Heads (``model.disc_head``):
* ``"market"``: the original ``reshape(-1, 8·4·8·w)`` → Linear(16,384, 1); one logit per image,
  only at 128×64 (final map 8×4×512).
* ``"deepfashion"``: the same reshape at 256×256 gives 8 logits per image, each from a contiguous
  64-channel × 16×16 slice of the NCHW map, with the Linear shared across slices (a quirk,
  orig B10). Output (B, 8).
* ``"clean"``: flatten the whole map → Linear(C·h·w, 1); any image size (a deviation).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from dpiglib.config import ModelConfig
from dpiglib.models.layers import Conv2dSame, check_shape, conv_out_size

__all__ = ["ImageDiscriminator", "DISC_WEIGHT_STD"]

DISC_WEIGHT_STD = 0.02  # tflib set_weights_stdev(0.02): U(±0.02·√3)
_HEADS = ("market", "deepfashion", "clean")


class ImageDiscriminator(nn.Module):
    """DCGAN discriminator D(img) → logits (orig §3.5).

    Args:
        cfg: uses ``disc_width`` (w = 64), ``disc_head`` and the image size.
        bn_always_train: normalise with batch statistics in eval mode too (the original).

    Attributes:
        convs: 4 ``Conv2dSame`` 5×5 stride-2 convs (3→w→2w→4w→8w).
        norms: 3 BatchNorm2d after convs 2-4.
        fc: the head's Linear.
        num_logits: logits per image (1, or 8 for the DF head at 256×256).
    """

    def __init__(self, cfg: ModelConfig, bn_always_train: bool = True):
        super().__init__()
        if cfg.disc_head not in _HEADS:
            raise ValueError(f"model.disc_head must be one of {_HEADS}, got {cfg.disc_head!r}")
        w = cfg.disc_width
        self.head, self.image_size = cfg.disc_head, (cfg.image_height, cfg.image_width)
        chans = [3, w, 2 * w, 4 * w, 8 * w]
        self.convs = nn.ModuleList(Conv2dSame(chans[i], chans[i + 1], 5, stride=2) for i in range(4))
        self.norms = nn.ModuleList(
            nn.BatchNorm2d(c, eps=1e-5, track_running_stats=not bn_always_train) for c in chans[2:]
        )
        fh, fw = conv_out_size(cfg.image_height, 4), conv_out_size(cfg.image_width, 4)
        per_image = 8 * w * fh * fw  # features per image after the last conv
        if self.head == "clean":
            self.in_features, self.num_logits = per_image, 1
        else:
            # The original reshapes the NCHW batch to rows of 8·4·8·w = 16,384 features.
            self.in_features = 8 * 4 * 8 * w
            fits = per_image % self.in_features == 0
            self.num_logits = per_image // self.in_features if fits else 0
            want = "exactly 1" if self.head == "market" else "a whole number of"
            if not fits or (self.head == "market" and self.num_logits != 1):
                raise ValueError(
                    f"disc_head={self.head!r} reshapes the final {8 * w}×{fh}×{fw} map "
                    f"({per_image} values per image) into rows of {self.in_features}; that needs "
                    f"{want} row(s) per image (market: 128×64, deepfashion: 256×256 with "
                    f"disc_width 64). Use model.disc_head='clean' for image size {self.image_size}."
                )
        self.fc = nn.Linear(self.in_features, 1)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """tflib init with stdev 0.02: U(±0.02·√3) for conv and linear weights, zero biases."""
        bound = DISC_WEIGHT_STD * math.sqrt(3.0)
        for m in [*self.convs, self.fc]:
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
        for bn in self.norms:
            nn.init.ones_(bn.weight)
            nn.init.zeros_(bn.bias)

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → final (B, 8w, H/16, W/16) map (NCHW, as tflib)."""
        x = F.leaky_relu(self.convs[0](img), 0.2)
        for conv, bn in zip(self.convs[1:], self.norms):
            x = F.leaky_relu(bn(conv(x)), 0.2)
        return x

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_logits); the losses average over all of them (orig §3.5).

        Args:
            img: (B, 3, H, W) in [−1, 1] (real x or raw G output).
        """
        check_shape("img", img, ("B", 3, *self.image_size))
        x = self.features(img)
        b = x.shape[0]
        if self.head == "clean":
            return self.fc(x.flatten(1))  # (B, 1)
        # NCHW reshape of the original: row j of image i = channels [j·C/k, (j+1)·C/k) (orig §3.5).
        rows = x.contiguous().view(b * self.num_logits, self.in_features)
        return self.fc(rows).view(b, self.num_logits)
