"""Stage-II: mapping functions Φ and their embedding critics (orig §4.1-4.2).

Φ (``GaussianFCRes``) maps Gaussian noise z ~ N(0, 0.2²) of the embedding's own dimension D to a
fake embedding: FC D→h + LReLU(0.2), ``blocks`` residual FC blocks, FC h→D (linear); slim init.
The critic (``FCDiscriminator``) is Linear(D→512) + LReLU, 3 × [Linear(512→512) + LReLU], then
Linear(512→1); He-uniform init for the LReLU layers and Glorot-uniform for the output (tflib),
biases 0. One Φ/critic pair per factor: Market ``fg`` (224, h 512), ``bg`` (128, h 256) and
``pose`` (32, h 512); DF ``app`` (224, h 512) and ``pose``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from dpiglib.config import ModelConfig
from dpiglib.models.layers import ResidualFC, check_shape, slim_init_

__all__ = [
    "MappingNetwork",
    "EmbeddingCritic",
    "sample_noise",
    "factor_dims",
    "build_mapping_networks",
    "build_critics",
]


def sample_noise(batch_size: int, dim: int, std: float,
                 generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """z ~ N(0, std²), shape (batch_size, dim); draws from ``generator`` when given.

    ``std`` is ``Stage2Config.noise_std`` (0.2 in the original, orig B13; models.py:474-477).
    """
    if generator is not None and device is None:
        device = generator.device
    return torch.randn(batch_size, dim, generator=generator, device=device) * std


class MappingNetwork(nn.Module):
    """Φ: z (B, dim) → e (B, dim) (orig §4.1).

    Args:
        dim: D, the embedding (and noise) dimension.
        width: h, the hidden width (512; 256 for Φ_bg).
        blocks: residual FC blocks (4).
        negative_slope: LeakyReLU slope (0.2).
    """

    def __init__(self, dim: int, width: int, blocks: int = 4, negative_slope: float = 0.2):
        super().__init__()
        self.dim, self.negative_slope = dim, negative_slope
        self.fc_in = nn.Linear(dim, width)
        self.blocks = nn.Sequential(*(ResidualFC(width, negative_slope) for _ in range(blocks)))
        self.fc_out = nn.Linear(width, dim)
        slim_init_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_shape("z", z, ("B", self.dim))
        return self.fc_out(self.blocks(F.leaky_relu(self.fc_in(z), self.negative_slope)))


class EmbeddingCritic(nn.Module):
    """WGAN critic on embeddings: e (B, dim) → (B, 1) scores (orig §4.2).

    Args:
        dim: D.
        width: FC width (512).
        hidden_layers: Linear(width→width) + LReLU layers after the first (3).
        negative_slope: LeakyReLU slope (0.2).
    """

    def __init__(self, dim: int, width: int = 512, hidden_layers: int = 3,
                 negative_slope: float = 0.2):
        super().__init__()
        self.dim, self.negative_slope = dim, negative_slope
        self.fc_in = nn.Linear(dim, width)
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(hidden_layers))
        self.fc_out = nn.Linear(width, 1)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """tflib: 'he' = U(±√(6/fan_in)) for the LReLU layers, Glorot-uniform output, zero bias."""
        for m in [self.fc_in, *self.hidden]:
            nn.init.kaiming_uniform_(m.weight, a=0.0, nonlinearity="relu")  # bound √(6/fan_in)
            nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.fc_out.weight)
        nn.init.zeros_(self.fc_out.bias)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        check_shape("e", e, ("B", self.dim))
        h = F.leaky_relu(self.fc_in(e), self.negative_slope)
        for layer in self.hidden:
            h = F.leaky_relu(layer(h), self.negative_slope)
        return self.fc_out(h)


def factor_dims(cfg: ModelConfig) -> dict[str, tuple[int, int]]:
    """Factor name → (embedding dim, Φ hidden width).

    Market (with a background branch): ``fg``, ``bg``, ``pose``. DF (``background_dim == 0``):
    ``app`` (the whole 224-d appearance) and ``pose``.
    """
    if cfg.background_dim > 0:
        dims = {"fg": (cfg.fg_dim, cfg.mapping_width_fg),
                "bg": (cfg.background_dim, cfg.mapping_width_bg)}
    else:
        dims = {"app": (cfg.fg_dim, cfg.mapping_width_fg)}
    dims["pose"] = (cfg.pose_dim, cfg.mapping_width_pose)
    return dims


def build_mapping_networks(cfg: ModelConfig) -> nn.ModuleDict:
    """One :class:`MappingNetwork` per factor of :func:`factor_dims` (keys fg/bg/pose or app/pose)."""
    return nn.ModuleDict({name: MappingNetwork(d, h, cfg.mapping_blocks)
                          for name, (d, h) in factor_dims(cfg).items()})


def build_critics(cfg: ModelConfig) -> nn.ModuleDict:
    """One :class:`EmbeddingCritic` per factor (same keys as :func:`build_mapping_networks`)."""
    return nn.ModuleDict({name: EmbeddingCritic(d, cfg.critic_width, cfg.critic_hidden_layers)
                          for name, (d, _) in factor_dims(cfg).items()})
