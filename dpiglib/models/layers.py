"""Shared building blocks of the Stage-I and Stage-II networks (orig §3, orig §4, orig B15).

* :class:`Conv2dSame` reproduces TensorFlow's ``padding='SAME'`` exactly. For a stride-2 conv on
  an even-sized map TF pads *asymmetrically* (3×3: 0 before, 1 after; 5×5: 1 before, 2 after);
  PyTorch's symmetric ``padding=k//2`` would sample a grid shifted by one pixel.
* :class:`ResBlock`, :class:`Down` and :class:`ConvPyramid` are the residual conv pyramid used by
  the part, background and generator encoders ("ResBlock(c)" / "Down(c)" of orig §3).
* :class:`ResidualFC` is the residual FC block of the pose auto-encoder and Φ (orig §3.7, orig §4.1).
* :func:`crop_and_resize` is ``tf.image.crop_and_resize`` (bilinear, extrapolation value 0) built
  on ``grid_sample(align_corners=True)`` (orig §2.5 "ROI pooling", orig B15).
* :func:`slim_init_` gives the ``slim.conv2d`` / ``slim.fully_connected`` defaults: Xavier-uniform
  weights and zero biases.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "check_shape",
    "same_padding",
    "Conv2dSame",
    "conv_out_size",
    "ResBlock",
    "Down",
    "ConvPyramid",
    "ResidualFC",
    "crop_and_resize",
    "flatten_nhwc",
    "slim_init_",
    "count_parameters",
]


# --------------------------------------------------------------------------------------------
# Input checking and small helpers
# --------------------------------------------------------------------------------------------


def check_shape(name: str, tensor: torch.Tensor, expected: Sequence[int | str | None]) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``tensor.shape`` matches ``expected``.

    Args:
        name: argument name used in the message (e.g. ``"img"``).
        tensor: the tensor to check.
        expected: one entry per dimension: an int (must match), or a str / None (any size; a
            str is printed as the dimension's symbol, e.g. ``"B"``).
    """
    pretty = "(" + ", ".join(str(e) if e is not None else "*" for e in expected) + ")"
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {pretty}, got {type(tensor).__name__}")
    ok = tensor.dim() == len(expected) and all(
        not isinstance(e, int) or e == s for e, s in zip(expected, tensor.shape)
    )
    if not ok:
        raise ValueError(f"{name} must have shape {pretty}, got {tuple(tensor.shape)}")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) along one dimension.

    TF: ``out = ceil(size / stride)``, ``total = max((out - 1) * stride + kernel - size, 0)``,
    ``before = total // 2`` and the remainder goes *after*.

    >>> same_padding(128, 3, 2), same_padding(128, 5, 2), same_padding(7, 3, 2), same_padding(9, 3, 1)
    ((0, 1), (1, 2), (1, 1), (1, 1))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def flatten_nhwc(x: torch.Tensor) -> torch.Tensor:
    """Flatten (B, C, H, W) in the original's NHWC order → (B, H·W·C).

    Only the layout of the following FC weight depends on this (orig §3.1: "flattened in NHWC
    order"); using it keeps a TF checkpoint's FC weights loadable without a permutation.
    """
    return x.permute(0, 2, 3, 1).flatten(1)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (weights + biases + BN scale/offset), as in orig §3.8."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def slim_init_(module: nn.Module) -> nn.Module:
    """Xavier-uniform weights and zero biases for every conv / linear (slim defaults, orig §3)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


# --------------------------------------------------------------------------------------------
# Convolutions
# --------------------------------------------------------------------------------------------


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow 'SAME' padding computed from the input size.

    Stride-1 convs with odd kernels pad symmetrically (k//2) and use the built-in padding.
    Strided convs pad with :func:`same_padding`, which on even sizes is asymmetric (extra row and
    column at the bottom/right), exactly as TF does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)
        self._symmetric = stride == 1 and kernel_size % 2 == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if self._symmetric:
            return F.conv2d(x, self.weight, self.bias, 1, k // 2)
        top, bottom = same_padding(x.shape[-2], k, s)
        left, right = same_padding(x.shape[-1], k, s)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, s, 0)


def conv_out_size(size: int, downsamples: int, stride: int = 2) -> int:
    """Spatial size after ``downsamples`` SAME strided convs (ceil division each time)."""
    for _ in range(downsamples):
        size = -(-size // stride)
    return size


class ResBlock(nn.Module):
    """x + ReLU(conv3×3(ReLU(conv3×3(x)))) at constant width c (orig §3 "ResBlock(c)").

    The ReLU sits on the second conv *before* the sum, as in the original (no activation after
    the sum). Input and output: (B, c, H, W).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = Conv2dSame(channels, channels, 3)
        self.conv2 = Conv2dSame(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.relu(self.conv2(F.relu(self.conv1(x))))


class Down(nn.Module):
    """conv3×3 stride 2 + ReLU (orig §3 "Down(c)"); (B, c_in, H, W) → (B, c_out, ⌈H/2⌉, ⌈W/2⌉)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = Conv2dSame(in_channels, out_channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class ConvPyramid(nn.Module):
    """The residual pyramid shared by every Stage-I encoder (orig §3.1, orig §3.2, orig §3.4).

    ``for idx in range(levels): ResBlock(width·(idx+1)); if idx < levels−1: Down(width·(idx+2))``.
    Input (B, width, H, W) → output (B, width·levels, H/2^(levels−1), W/2^(levels−1)) (ceil).

    Args:
        width: n, the input width and the channel step.
        levels: number of ResBlocks (``repeat_num``).
    """

    def __init__(self, width: int, levels: int):
        super().__init__()
        if levels < 1:
            raise ValueError(f"ConvPyramid needs levels >= 1, got {levels}")
        self.width, self.levels = width, levels
        self.blocks = nn.ModuleList(ResBlock(width * (i + 1)) for i in range(levels))
        self.downs = nn.ModuleList(Down(width * (i + 1), width * (i + 2)) for i in range(levels - 1))

    @property
    def out_channels(self) -> int:
        return self.width * self.levels

    def forward(self, x: torch.Tensor, return_skips: bool = False):
        """Returns the final map, plus the list of per-level outputs (after each ResBlock, before
        the Down: the U-Net skips of orig §3.4) when ``return_skips``."""
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            skips.append(x)
            if i < self.levels - 1:
                x = self.downs[i](x)
        return (x, skips) if return_skips else x


class ResidualFC(nn.Module):
    """h + LReLU(FC(LReLU(FC(h)))) at width h (orig §3.7, orig §4.1); LReLU slope 0.2."""

    def __init__(self, width: int, negative_slope: float = 0.2):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.negative_slope = negative_slope

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        a = self.negative_slope
        return h + F.leaky_relu(self.fc2(F.leaky_relu(self.fc1(h), a)), a)


# --------------------------------------------------------------------------------------------
# ROI pooling: tf.image.crop_and_resize
# --------------------------------------------------------------------------------------------


def crop_and_resize(features: torch.Tensor, boxes: torch.Tensor, crop_size: int | tuple[int, int]
                    ) -> torch.Tensor:
    """``tf.image.crop_and_resize`` (bilinear, extrapolation value 0) for K boxes per image.

    TF maps a normalised coordinate y to pixel y·(H−1), so crop row i samples
    ``y1·(H−1) + i·(y2−y1)·(H−1)/(S−1)`` (the centre ``(y1+y2)/2·(H−1)`` when S = 1); columns
    likewise. A sample outside [0, H−1] × [0, W−1] is 0 (TF's ``extrapolation_value``), not a
    blend with the zero padding, so out-of-range points are masked explicitly. In
    ``grid_sample(align_corners=True)`` grid −1 ↦ pixel 0 and +1 ↦ pixel H−1, which is the same
    pixel mapping (orig B15); ``roi_align`` is *not* (half-pixel shift, bin averaging).

    Args:
        features: (B, C, H, W).
        boxes: (B, K, 4) normalised ``(y1, x1, y2, x2)``; the DPIG encoders pass pixel boxes
            divided by H and W (not H−1, W−1; orig §2.5). y2 < y1 flips the crop, as in TF.
        crop_size: S or (S_h, S_w).

    Returns:
        (B, K, C, S_h, S_w) crops.
    """
    check_shape("features", features, ("B", "C", "H", "W"))
    check_shape("boxes", boxes, (features.shape[0], "K", 4))
    sh, sw = (crop_size, crop_size) if isinstance(crop_size, int) else crop_size
    b, c, h, w = features.shape
    k = boxes.shape[1]
    boxes = boxes.to(dtype=torch.float32)

    def axis(lo: torch.Tensor, hi: torch.Tensor, size: int, steps: int):
        # Pixel coordinates exactly as TF computes them (float32), then grid units.
        if steps > 1:
            scale = (hi - lo) * (size - 1) / (steps - 1)  # (B, K)
            idx = torch.arange(steps, device=boxes.device, dtype=torch.float32)
            pix = lo[..., None] * (size - 1) + idx * scale[..., None]  # (B, K, steps)
        else:
            pix = (0.5 * (lo + hi) * (size - 1))[..., None]
        valid = (pix >= 0) & (pix <= size - 1)
        grid = pix * (2.0 / (size - 1)) - 1.0 if size > 1 else torch.zeros_like(pix)
        return grid, valid

    gy, vy = axis(boxes[..., 0], boxes[..., 2], h, sh)  # (B, K, Sh)
    gx, vx = axis(boxes[..., 1], boxes[..., 3], w, sw)  # (B, K, Sw)
    # The K crops of an image are stacked along the grid's height: (B, K·Sh, Sw, 2) with (x, y).
    grid = torch.stack(
        (gx[:, :, None, :].expand(b, k, sh, sw), gy[:, :, :, None].expand(b, k, sh, sw)), dim=-1
    ).reshape(b, k * sh, sw, 2)
    out = F.grid_sample(features, grid.to(features.dtype), mode="bilinear", padding_mode="zeros",
                        align_corners=True)  # (B, C, K·Sh, Sw)
    out = out.view(b, c, k, sh, sw).permute(0, 2, 1, 3, 4)  # (B, K, C, Sh, Sw)
    valid = (vy[:, :, :, None] & vx[:, :, None, :])[:, :, None]  # (B, K, 1, Sh, Sw)
    return out * valid.to(out.dtype)
