"""Stage-I image generator: U-Net with a 64-d FC bottleneck (orig §3.3-3.4).

``GeneratorCNN_ID_UAEAfterResidual`` (scope ``ID_AE/G``): the appearance embedding is tiled over
H×W and concatenated with the 18-channel pose heatmap (370 channels on Market, 242 on DF); a
residual pyramid with U-Net skips, FC → 64 → FC, then a decoder of [concat skip, ResBlock,
nearest ×2, conv1×1] stages and a final linear conv3×3 → 3. The output is unbounded (losses use
raw G; only display clips).

The first conv sees the embedding tiled over every pixel (``tf.tile``). A 3×3 'SAME' conv of a
map that is constant inside the image is a per-image bias, except at the borders, where the zero
padding drops the taps that fall outside (orig §3.3: not position-invariant there). So
:class:`TiledInputConv` computes exactly that, without materialising the (B, D, H, W) tile: each
tap's projection ``W[:, :D, y, x] · e`` is added where the tap lands inside the image, and only
the 18 heatmap channels go through a real convolution. Same parameters (one conv weight of
D+18 input channels, so checkpoints and orig §3.8's counts are unchanged), same function up to float
summation order; it removes the layer that dominated the generator's FLOPs (44 % of them at
synth-tiny, where D = 352 and the width is 16).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from dpiglib.config import ModelConfig
from dpiglib.models.layers import (ConvPyramid, Conv2dSame, ResBlock, check_shape, conv_out_size,
                                   flatten_nhwc, slim_init_)

__all__ = ["UNetGenerator", "TiledInputConv", "NUM_HEATMAP_CHANNELS"]

NUM_HEATMAP_CHANNELS = 18  # one binary disk map per COCO keypoint (orig §2.3)


class TiledInputConv(Conv2dSame):
    """conv3×3 'SAME' over ``[tile(embedding, H×W), heatmap]`` without building the tile.

    ``forward(embedding (B, D), heatmap (B, C, H, W)) → (B, out, H, W)`` equals
    ``Conv2dSame.forward(cat([embedding[:, :, None, None].expand(B, D, H, W), heatmap], 1))``
    (tested); the weight keeps the layout ``(out, D + C, k, k)`` of that conv.
    """

    def forward(self, embedding: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        d, k = embedding.shape[1], self.kernel_size[0]
        pad = k // 2
        h, w = heatmap.shape[-2:]
        out = F.conv2d(heatmap, self.weight[:, d:], self.bias, 1, pad)
        # taps[b, o, y, x] = Σ_d W[o, d, y, x] · e[b, d]: what tap (y, x) adds wherever it lands
        # inside the image; inside[y, i] says whether row i + y − pad exists (same for columns).
        taps = torch.einsum("bd,odyx->boyx", embedding, self.weight[:, :d])

        def inside(n: int) -> torch.Tensor:  # (k, n): tap y lands on a real pixel at position i
            pos = torch.arange(n, device=heatmap.device)[None, :] + torch.arange(k, device=heatmap.device)[:, None] - pad
            return ((pos >= 0) & (pos < n)).to(taps.dtype)

        in_rows, in_cols = inside(h), inside(w)  # (k, H), (k, W)
        per_row = torch.einsum("boyx,xj->boyj", taps, in_cols)  # (B, out, k, W)
        return out + torch.einsum("boyj,yi->boij", per_row, in_rows).to(out.dtype)


class UNetGenerator(nn.Module):
    """G(embedding, heatmap) → image (orig §3.4).

    Args:
        cfg: uses ``width`` (n), ``generator_levels`` (R), ``bottleneck_dim`` (64),
            ``embedding_dim`` (352 / 224) and the image size.

    Attributes:
        in_conv: conv3×3 (D+18 → n) + ReLU.
        pyramid: :class:`~dpiglib.models.layers.ConvPyramid` (R levels); its per-level outputs are the
            skips (n·(i+1) channels at H/2^i).
        fc_down, fc_up: FC(h0·w0·n·R → bottleneck) and FC(bottleneck → h0·w0·n), both linear.
        dec_blocks: R ResBlocks at the concatenated widths (Market 768, 1024, 768, 512, 256).
        dec_convs: R−1 conv1×1 + ReLU after each nearest ×2 upsample (n·(R−1−i) channels).
        out_conv: conv3×3 → 3, no activation.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        n, levels = cfg.width, cfg.generator_levels
        self.image_size = (cfg.image_height, cfg.image_width)
        self.embedding_dim = cfg.embedding_dim
        self.levels, self.width = levels, n
        self.h0 = conv_out_size(cfg.image_height, levels - 1)  # Market 8, DF 16
        self.w0 = conv_out_size(cfg.image_width, levels - 1)  # Market 4, DF 16
        if self.h0 * 2 ** (levels - 1) != cfg.image_height or self.w0 * 2 ** (levels - 1) != cfg.image_width:
            # The ×2 upsampling path must land back on the skips' sizes.
            raise ValueError(f"UNetGenerator: image size {self.image_size} must be divisible by "
                             f"2**(generator_levels-1) = {2 ** (levels - 1)}")
        self.in_conv = TiledInputConv(cfg.embedding_dim + NUM_HEATMAP_CHANNELS, n, 3)
        self.pyramid = ConvPyramid(n, levels)
        self.fc_down = nn.Linear(self.h0 * self.w0 * n * levels, cfg.bottleneck_dim)
        self.fc_up = nn.Linear(cfg.bottleneck_dim, self.h0 * self.w0 * n)
        blocks, convs, ch = [], [], n
        for i in range(levels):
            ch += n * (levels - i)  # concat with skip_{R−1−i}, which has n·(R−i) channels
            blocks.append(ResBlock(ch))
            if i < levels - 1:
                convs.append(Conv2dSame(ch, n * (levels - 1 - i), 1))
                ch = n * (levels - 1 - i)
        self.dec_blocks = nn.ModuleList(blocks)
        self.dec_convs = nn.ModuleList(convs)
        self.out_conv = Conv2dSame(ch, 3, 3)
        slim_init_(self)

    def forward(self, embedding: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:
        """Render an image.

        Args:
            embedding: (B, D) appearance embedding (D = 352 Market, 224 DF).
            heatmap: (B, 18, H, W) pose heatmap in {−1, +1}.

        Returns:
            (B, 3, H, W), unbounded (≈ [−1, 1] once trained).
        """
        h, w = self.image_size
        check_shape("embedding", embedding, ("B", self.embedding_dim))
        check_shape("heatmap", heatmap, (embedding.shape[0], NUM_HEATMAP_CHANNELS, h, w))
        b = embedding.shape[0]
        # conv3×3 over [tile(e), heatmap] (tf.tile + concat), computed without the tile
        x = F.relu(self.in_conv(embedding, heatmap.to(embedding.dtype)))
        x, skips = self.pyramid(x, return_skips=True)  # x: (B, n·R, h0, w0)
        z = self.fc_down(flatten_nhwc(x))  # (B, 64), linear
        # The original reshapes the FC output as NHWC (h0, w0, n); permute to keep that layout.
        x = self.fc_up(z).view(b, self.h0, self.w0, self.width).permute(0, 3, 1, 2)
        for i, block in enumerate(self.dec_blocks):
            x = block(torch.cat([x, skips[self.levels - 1 - i]], dim=1))  # [x, skip] order
            if i < self.levels - 1:
                x = F.interpolate(x, scale_factor=2, mode="nearest")  # utils.upscale
                x = F.relu(self.dec_convs[i](x))
        return self.out_conv(x)
