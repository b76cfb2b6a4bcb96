"""Stage-I appearance encoders: foreground (7 body-part ROIs) and background (orig §3.1-3.2).

Market (``GeneratorCNN_ID_Encoder_BodyROIVis_FgBgFeaTwoBranch``): a shared stem
(conv3×3 + ResBlock) gives features F; F·mask feeds the part branch (7 ROI crops through one
shared pyramid, FC → 32-d each, gated by part visibility → ``e_fg`` 224-d) and F·(1−mask) feeds
the background pyramid (FC → ``e_bg`` 128-d). DF (``..._BodyROIVis``): no mask, no background
branch (``model.mask_features=False``, ``model.background_dim=0``).

Layout notes: every FC follows an NHWC flatten (orig §3.1) so its weight layout matches the
original checkpoint; convs use TF 'SAME' padding (asymmetric at stride 2, see ``layers``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from dpiglib.config import ModelConfig
from dpiglib.models.layers import (ConvPyramid, Conv2dSame, ResBlock, check_shape, conv_out_size,
                                   crop_and_resize, flatten_nhwc, slim_init_)

__all__ = ["ForegroundEncoder", "BackgroundEncoder", "FactorEncoder", "combine_embeddings"]


def combine_embeddings(e_fg: torch.Tensor, e_bg: torch.Tensor | None) -> torch.Tensor:
    """The generator's appearance embedding: concat(fg 224, bg 128) = 352 (Market) or fg (DF)."""
    return e_fg if e_bg is None else torch.cat([e_fg, e_bg], dim=1)


class ForegroundEncoder(nn.Module):
    """Body-part ROI branch: crops → shared pyramid → FC(part_dim) → visibility gate (orig §3.1).

    Args:
        cfg: uses ``width``, ``encoder_levels``, ``roi_size``, ``part_dim``, ``num_parts``,
            ``image_height``, ``image_width``.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.num_parts, self.part_dim, self.roi_size = cfg.num_parts, cfg.part_dim, cfg.roi_size
        self.image_size = (cfg.image_height, cfg.image_width)
        self.pyramid = ConvPyramid(cfg.width, cfg.encoder_levels)
        s = conv_out_size(cfg.roi_size, cfg.encoder_levels - 1)  # Market 48→3, DF 64→1, tiny 24→3
        self.fc = nn.Linear(s * s * self.pyramid.out_channels, cfg.part_dim)
        slim_init_(self)

    @property
    def out_dim(self) -> int:
        return self.num_parts * self.part_dim

    def forward(self, features: torch.Tensor, boxes: torch.Tensor, box_vis: torch.Tensor
                ) -> torch.Tensor:
        """Encode the K parts.

        Args:
            features: (B, width, H, W) stem features (already multiplied by the mask on Market).
            boxes: (B, K, 4) integer-pixel ``(y1, x1, y2, x2)`` (long or float).
            box_vis: (B, K) part visibility in {0, 1}.

        Returns:
            e_fg: (B, K·part_dim); part k occupies columns [k·part_dim, (k+1)·part_dim).
        """
        b = features.shape[0]
        k, s = self.num_parts, self.roi_size
        h, w = self.image_size
        # orig §2.5: normalised by H and W (not H−1, W−1); crop_and_resize then scales by H−1.
        # Filled on the device rather than copied from the host: a host-to-device copy cannot be
        # captured in a CUDA graph (stage1_compile="graphs").
        scale = features.new_empty(4, dtype=torch.float32)
        scale[0::2], scale[1::2] = h, w
        crops = crop_and_resize(features, boxes.to(torch.float32) / scale, s)  # (B, K, C, S, S)
        # Part-major stacking (the original concatenates the 7 crop batches): (K·B, C, S, S).
        crops = crops.transpose(0, 1).reshape(k * b, features.shape[1], s, s)
        z = self.fc(flatten_nhwc(self.pyramid(crops)))  # (K·B, part_dim)
        z = z.view(k, b, self.part_dim).transpose(0, 1)  # (B, K, part_dim)
        z = z * box_vis.to(z.dtype)[:, :, None]  # visibility gating (models.py:435-442)
        return z.reshape(b, k * self.part_dim)


class BackgroundEncoder(nn.Module):
    """Background branch: the same pyramid on the whole F·(1−mask) map, FC → ``background_dim``.

    Args:
        cfg: uses ``width``, ``background_levels``, ``background_dim`` and the image size.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.pyramid = ConvPyramid(cfg.width, cfg.background_levels)
        h = conv_out_size(cfg.image_height, cfg.background_levels - 1)  # Market 128→8
        w = conv_out_size(cfg.image_width, cfg.background_levels - 1)  # Market 64→4
        self.fc = nn.Linear(h * w * self.pyramid.out_channels, cfg.background_dim)
        self.out_dim = cfg.background_dim
        slim_init_(self)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, width, H, W) background features → e_bg (B, background_dim)."""
        return self.fc(flatten_nhwc(self.pyramid(features)))


class FactorEncoder(nn.Module):
    """The Stage-I appearance encoder (scope ``Encoder/G_encoder``), orig §3.1-3.2.

    Attributes:
        stem: conv3×3(3→width) + ReLU, then ResBlock(width); shared by fg and bg.
        foreground: :class:`ForegroundEncoder`.
        background: :class:`BackgroundEncoder`, or None when ``background_dim == 0`` (DF).
        fg_dim, bg_dim, embedding_dim: 224, 128 (0 on DF), 352 (224 on DF).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.mask_features = cfg.mask_features
        self.stem = nn.Sequential(Conv2dSame(3, cfg.width, 3), nn.ReLU(), ResBlock(cfg.width))
        self.foreground = ForegroundEncoder(cfg)
        self.background = BackgroundEncoder(cfg) if cfg.background_dim > 0 else None
        self.fg_dim = self.foreground.out_dim
        self.bg_dim = cfg.background_dim if self.background is not None else 0
        self.embedding_dim = self.fg_dim + self.bg_dim
        slim_init_(self.stem)

    def forward(self, img: torch.Tensor, boxes: torch.Tensor, box_vis: torch.Tensor,
                mask: torch.Tensor | None = None):
        """Encode the appearance factors.

        Args:
            img: (B, 3, H, W) in [−1, 1].
            boxes: (B, 7, 4) integer-pixel part boxes ``(y1, x1, y2, x2)``.
            box_vis: (B, 7) part visibility.
            mask: (B, 1, H, W) pose mask in {0, 1}; required when ``mask_features`` (Market),
                ignored otherwise (DF).

        Returns:
            ``(e_fg, e_bg)``: (B, 224) and (B, 128), or None for e_bg without a bg branch.
        """
        h, w = self.cfg.image_height, self.cfg.image_width
        check_shape("img", img, ("B", 3, h, w))
        b = img.shape[0]
        check_shape("boxes", boxes, (b, self.cfg.num_parts, 4))
        check_shape("box_vis", box_vis, (b, self.cfg.num_parts))
        feats = self.stem(img)  # F: (B, width, H, W)
        if self.mask_features:
            if mask is None:
                raise ValueError("mask (B, 1, H, W) is required when model.mask_features is True "
                                 "(Market fg/bg encoder, orig §3.1 step 2)")
            check_shape("mask", mask, (b, 1, h, w))
            m = mask.to(feats.dtype)
            # Masking acts on features after the first ResBlock, not on pixels (models.py:402-403).
            f_fg, f_bg = feats * m, feats * (1.0 - m)
        else:
            f_fg = f_bg = feats
        e_fg = self.foreground(f_fg, boxes, box_vis)
        e_bg = self.background(f_bg) if self.background is not None else None
        return e_fg, e_bg
