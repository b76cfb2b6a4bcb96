"""The Stage-II model (orig §4.1-4.2): one mapping network Φ and one critic per factor.

Φ turns Gaussian noise z ~ N(0, σ²) into an embedding that the frozen Stage-I generator can
draw: Φ_fg, Φ_bg and Φ_pose for Market-style models, Φ_app and Φ_pose for DeepFashion-style
ones (orig B3). Each Φ has an embedding critic that Stage-II's WGAN trains against
(:mod:`dpiglib.training.stage2`). Stage-II never touches pixels.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from dpiglib.config import ModelConfig, RunConfig
from dpiglib.models.mapping import build_critics, build_mapping_networks, factor_dims, sample_noise

__all__ = ["Stage2Model", "build_stage2_model"]


class Stage2Model(nn.Module):
    """Φ and critic per factor: ``phi[f]`` (``MappingNetwork``), ``critic[f]`` (``EmbeddingCritic``).

    Args:
        model_cfg: widths and dims (orig §4.1-4.2; ``mapping_width_bg`` is 256, not 512).
        factors: subset of :func:`factor_dims` keys (default: all of them).
        noise_std: σ of z (``Stage2Config.noise_std``, orig B13).
    """

    def __init__(self, model_cfg: ModelConfig, factors: Sequence[str] | None = None, *,
                 noise_std: float):
        super().__init__()
        dims = factor_dims(model_cfg)
        factors = list(dims) if factors is None else list(factors)
        unknown = [f for f in factors if f not in dims]
        if unknown or not factors:
            raise ValueError(f"unknown Stage-II factor(s) {unknown or factors}; this architecture "
                             f"has {', '.join(dims)}")
        self.factors = factors
        self.dims = {f: dims[f][0] for f in factors}
        self.noise_std = float(noise_std)
        phis, critics = build_mapping_networks(model_cfg), build_critics(model_cfg)
        self.phi = nn.ModuleDict({f: phis[f] for f in factors})
        self.critic = nn.ModuleDict({f: critics[f] for f in factors})

    def noise(self, factor: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, σ²), (n, D_factor), drawn on ``generator``'s device then moved to the model's."""
        z = sample_noise(n, self.dims[factor], self.noise_std, generator)
        return z.to(next(self.phi[factor].parameters()).device)

    def sample(self, factor: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fake embeddings Φ_factor(z): (n, D_factor)."""
        return self.phi[factor](self.noise(factor, n, generator))


def build_stage2_model(cfg: RunConfig, factors: Sequence[str] | None = None) -> Stage2Model:
    """The Stage-II model at initialisation, seeded from ``cfg.seed`` without touching the global
    RNG (so Φ-at-init can be rebuilt exactly for the untrained baseline)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed * 1_000_003 + 2)  # Stage-I uses seed and seed + 1
        return Stage2Model(cfg.model, factors, noise_std=cfg.stage2.noise_std)
