"""The Stage-I image model (orig §3.1-3.5): encoder, generator and discriminator as one module.

``Stage1Model`` holds the three networks of the paper's first stage under the original's
checkpoint scopes (orig §3.8): the factor encoder E (``Encoder/G_encoder``: the foreground's
seven body-part embeddings and the background embedding), the U-Net generator G (``ID_AE/G``),
and the DCGAN discriminator D. Reconstruction is x̂ = G(E(x), h(x)), with h the 18 pose
heatmaps. :class:`Reconstructor` is its G side as one module, the "G" that the G step of
:func:`dpiglib.training.stage1.stage1_step` trains.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from dpiglib.config import ModelConfig
from dpiglib.models.discriminator import ImageDiscriminator
from dpiglib.models.encoders import FactorEncoder, combine_embeddings
from dpiglib.models.generator import UNetGenerator

__all__ = ["Stage1Model", "Reconstructor"]


def _embedding(encoder, img, boxes, box_vis, mask) -> torch.Tensor:
    return combine_embeddings(*encoder(img, boxes, box_vis, mask))  # (B, 224 [+ 128])


class Stage1Model(nn.Module):
    """The Stage-I image model: ``encoder`` (``Encoder/G_encoder``), ``generator`` (``ID_AE/G``)
    and ``discriminator`` (orig §3.8 scopes), built from one :class:`ModelConfig`."""

    def __init__(self, model_cfg: ModelConfig):
        super().__init__()
        self.model_cfg = model_cfg
        self.encoder = FactorEncoder(model_cfg)
        self.generator = UNetGenerator(model_cfg)
        self.discriminator = ImageDiscriminator(model_cfg)

    def embed(self, img, boxes, box_vis, mask) -> torch.Tensor:
        """Appearance embedding ``(B, embedding_dim)``: [e_fg, e_bg] concatenated (orig §3.3)."""
        return _embedding(self.encoder, img, boxes, box_vis, mask)

    def reconstruct(self, img, boxes, box_vis, heatmap, mask) -> torch.Tensor:
        """x̂ = G(E(x), heatmap(x)): ``(B, 3, H, W)`` unbounded (orig §3.4)."""
        return self.generator(self.embed(img, boxes, box_vis, mask), heatmap)


class Reconstructor(nn.Module):
    """The G side (encoder + generator) as one module, so DDP and the G optimiser cover both."""

    def __init__(self, model: Stage1Model):
        super().__init__()
        self.encoder, self.generator = model.encoder, model.generator

    def forward(self, img, boxes, box_vis, heatmap, mask):
        return self.generator(_embedding(self.encoder, img, boxes, box_vis, mask), heatmap)
