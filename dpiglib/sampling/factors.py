"""What the Sampler hands around: a batch of factor values, and the seeded noise per factor.

Kept apart from :mod:`dpiglib.sampling.sampler` so that inversion, interpolation and the re-ID
export (:mod:`.latent`, :mod:`.reid_export`) use them without importing the Sampler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["SAMPLE", "Factors", "Stage2MissingError", "factor_generator"]

SAMPLE = "sample"  # the source string meaning "draw this factor from Φ(z)"
_FACTOR_STREAM = {"fg": 1, "bg": 2, "app": 3, "pose": 4}  # per-factor seed streams


class Stage2MissingError(RuntimeError):
    """A factor was to be drawn from noise, but no trained Stage-II Φ for it is loaded."""


def factor_generator(seed: int, factor: str) -> torch.Generator:
    """The CPU generator of ``factor``'s noise for ``seed`` (independent stream per factor)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, _FACTOR_STREAM[factor]])
    return torch.Generator().manual_seed(int(ss.generate_state(1, np.uint64)[0] >> 1))


@dataclass
class Factors:
    """A batch of factor values, ready to render.

    Attributes:
        embeddings: factor name → (B, D): ``fg`` (224) and ``bg`` (128), or ``app`` (224) on DF,
            and ``pose`` (32) when known (from the pose encoder, or Φ_pose(z)).
        rcv: (B, 18, 3) pixel pose the generator draws (real, decoded or edited).
        z: factor name → (B, D) noise of the factors that were drawn from Φ.
        heatmap: (B, 18, H, W) in {−1, +1} drawn from ``rcv`` (filled by the :class:`Sampler`).
    """

    embeddings: dict[str, torch.Tensor]
    rcv: torch.Tensor
    z: dict[str, torch.Tensor] = field(default_factory=dict)
    heatmap: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.rcv.shape[0])

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.embeddings[name]

    def rows(self, index: Any) -> "Factors":
        """The rows ``index`` (int, slice or index tensor) of every field, batch dim kept."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        take = lambda d: {k: v[index] for k, v in d.items()}  # noqa: E731
        return Factors(take(self.embeddings), self.rcv[index], take(self.z),
                       None if self.heatmap is None else self.heatmap[index])
