"""How much a factor swap changes the foreground vs the background, on SynthPerson's true masks.

A disentangled model (orig §1: fg, bg and pose are separate embeddings) should repaint the
background and leave the person alone when only the background embedding is swapped. With
Δ = |G(fg_a, bg_b, pose_a) − G(fg_a, bg_a, pose_a)| / 2 (mean over RGB, in [0, 1]) the ratio
mean_fg(Δ) / mean_bg(Δ) over SynthPerson's true foreground masks (``{split}_mask/NAME.png``) is < 1
when the swap acts on the background and ≈ 1 for an untrained model. Not a paper metric: a check
this kit can make because SynthPerson knows its true masks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["load_true_masks", "swap_change_ratio"]


def load_true_masks(root: str | os.PathLike, split: str, names: Sequence[str]) -> torch.Tensor:
    """SynthPerson true foreground masks (B, 1, H, W) in {0, 1} for image ``names``."""
    from PIL import Image

    out = []
    for n in names:
        path = Path(root) / f"{split}_mask" / n
        if not path.is_file():
            raise FileNotFoundError(f"true mask {path} not found (only SynthPerson datasets have "
                                    "{split}_mask/ folders)")
        with Image.open(path) as im:
            out.append(np.asarray(im.convert("L")) > 127)
    return torch.from_numpy(np.stack(out)).float()[:, None]


@torch.no_grad()
def swap_change_ratio(sampler, items: Sequence[dict[str, Any]], masks: torch.Tensor,
                      factor: str = "bg", shift: int = 1) -> dict[str, float]:
    """Swap ``factor`` between image i and image (i + shift) mod B; measure where pixels change.

    Args:
        sampler: a :class:`dpiglib.sampling.sampler.Sampler` (no Stage-II needed).
        items: B real items (≥ 2).
        masks: (B, 1, H, W) true foreground masks in {0, 1}.
        factor: the factor swapped (``bg``, ``fg``, ``pose``).
        shift: partner offset.

    Returns:
        ``{"fg_change", "bg_change", "ratio", "images"}`` (changes are mean |Δ| in [0, 1]).
    """
    from dpiglib.sampling.sampler import Factors

    if len(items) < 2:
        raise ValueError("swap_change_ratio needs at least 2 images")
    fac = sampler.encode(list(items))
    perm = torch.roll(torch.arange(len(items)), shift)
    swapped = Factors({k: (v[perm] if k == factor else v) for k, v in fac.embeddings.items()},
                      fac.rcv[perm] if factor == "pose" else fac.rcv)
    d = (sampler.render(swapped) - sampler.render(fac)).abs().mean(1, keepdim=True).cpu() / 2
    m = masks.float().cpu()
    fg = float((d * m).sum() / m.sum().clamp_min(1))
    bg = float((d * (1 - m)).sum() / (1 - m).sum().clamp_min(1))
    return {"fg_change": fg, "bg_change": bg, "ratio": fg / max(bg, 1e-12), "images": len(items)}
