"""Latent-space operations of the paper's test time: inversion and interpolation (orig §5 item 4).

Neither is in the released code (orig §1: the config flags are stored and never used). The paper
describes mapping a real image to embeddings with the Stage-I encoders, finding the noise that Φ
maps there, z* = argmin_z ‖Φ(z) − e(x)‖² with Φ frozen, and interpolating noise or embeddings.
Implementation (the kit's proposal, orig §5 item 4): Adam, lr ≈ 1e-2, start z ~ N(0, σ²), σ =
0.2; the residual reported is ‖Φ(z*) − e‖² / D per sample. Spherical interpolation follows the
repo's unused ``utils.slerp`` (utils.py:91-97): sin((1−t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b with Ω
the angle between a and b, falling back to linear for parallel vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn

__all__ = ["lerp", "slerp", "mix", "Inversion", "invert_mapping", "invert_factors",
           "Interpolation", "interpolate_factors", "METHODS", "SPACES"]

METHODS = ("linear", "slerp")
SPACES = ("embedding", "noise")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 − t)·a + t·b for vectors a, b (D,) and t (T,) → (T, D)."""
    t = t.to(a.dtype)[:, None]
    return (1 - t) * a[None] + t * b[None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of ``utils.slerp`` for vectors a, b (D,) and t (T,) → (T, D)."""
    an, bn = a / a.norm().clamp_min(1e-12), b / b.norm().clamp_min(1e-12)
    omega = torch.arccos(torch.clamp((an * bn).sum(), -1.0, 1.0))
    so = torch.sin(omega)
    if float(so.abs()) < 1e-7:  # parallel: the original falls back to linear
        return lerp(a, b, t)
    t = t.to(a.dtype)[:, None]
    return torch.sin((1 - t) * omega) / so * a[None] + torch.sin(t * omega) / so * b[None]


def mix(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, method: str = "linear") -> torch.Tensor:
    """:func:`lerp` or :func:`slerp`; rows at t = 0 and t = 1 are exactly ``a`` and ``b``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    out = (lerp if method == "linear" else slerp)(a.reshape(-1), b.reshape(-1), t)
    # Pin the endpoints: float rounding in the formulas must not move the inputs.
    out[t == 0] = a.reshape(-1).to(out.dtype)
    out[t == 1] = b.reshape(-1).to(out.dtype)
    return out


@dataclass
class Inversion:
    """Result of inverting Φ for one or more factors.

    Attributes:
        z: factor → (B, D) z*.
        embeddings: factor → (B, D) Φ(z*).
        targets: factor → (B, D) the embeddings aimed at.
        residual: factor → (B,) final ‖Φ(z*) − e‖² / D.
        history: factor → (steps + 1,) residual averaged over the batch; entry 0 is the start.
    """

    z: dict[str, torch.Tensor]
    embeddings: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    residual: dict[str, torch.Tensor]
    history: dict[str, np.ndarray]

    def frame(self):
        """History as a DataFrame (columns ``step`` and one per factor), for plotting."""
        import pandas as pd

        n = len(next(iter(self.history.values())))
        return pd.DataFrame({"step": np.arange(n), **self.history})


def invert_mapping(phi: nn.Module, target: torch.Tensor, steps: int, lr: float,
                   noise_std: float, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """z* = argmin_z ‖Φ(z) − e‖² by Adam with Φ frozen (orig §5 item 4).

    Args:
        phi: the mapping network (its parameters are not updated).
        target: e, (B, D).
        steps: Adam steps (≥ 0).
        lr: Adam learning rate.
        noise_std: σ of the start z ~ N(0, σ²) (``Stage2Config.noise_std``).
        generator: CPU generator of the start.

    Returns:
        ``(z* (B, D), residual (B,), history (steps + 1,))`` with residual = ‖Φ(z*) − e‖² / D;
        the history holds the batch mean at the start and after every step.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    dev = next(phi.parameters()).device
    target = target.detach().to(dev).float()
    z0 = torch.randn(target.shape, generator=generator,
                     device=generator.device if generator is not None else "cpu") * noise_std
    z = z0.to(dev).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    flags = [p.requires_grad for p in phi.parameters()]
    phi.requires_grad_(False)  # Φ frozen: only z moves
    history = torch.empty(steps + 1)
    try:
        with torch.enable_grad():
            for i in range(steps + 1):
                res = (phi(z) - target).pow(2).mean(dim=1)  # (B,) ‖Φ(z) − e‖² / D
                history[i] = res.detach().mean().cpu()
                if i == steps:
                    break
                opt.zero_grad(set_to_none=True)
                res.sum().backward()  # rows are independent: the sum optimises each alone
                opt.step()
    finally:
        for p, f in zip(phi.parameters(), flags):
            p.requires_grad_(f)
    return z.detach(), res.detach(), history.numpy()


def invert_factors(phis: Mapping[str, nn.Module], targets: Mapping[str, torch.Tensor],
                   steps: int, lr: float, noise_std: float,
                   generators: Mapping[str, torch.Generator | None]) -> Inversion:
    """:func:`invert_mapping` for each factor; see :meth:`dpiglib.sampling.sampler.Sampler.invert`."""
    z, emb, res, hist = {}, {}, {}, {}
    for f, phi in phis.items():
        z[f], res[f], hist[f] = invert_mapping(phi, targets[f], steps, lr, noise_std,
                                               generators.get(f))
        with torch.no_grad():
            emb[f] = phi(z[f])
    return Inversion(z, emb, {f: targets[f].detach() for f in phis}, res, hist)


@dataclass
class Interpolation:
    """A walk between two inputs.

    Attributes:
        t: (T,) positions in [0, 1].
        factors: :class:`dpiglib.sampling.sampler.Factors` of batch T.
        images: (T, 3, H, W) or None.
        space, method: as requested.
        moving: the factors that were interpolated.
        inversion_residual: factor → (2,) residual of inverted inputs (noise space only).
    """

    t: torch.Tensor
    factors: Any
    images: torch.Tensor | None
    space: str
    method: str
    moving: tuple[str, ...]
    inversion_residual: dict[str, torch.Tensor]


def _as_factors(sampler, x):
    from dpiglib.sampling.factors import Factors

    fac = x if isinstance(x, Factors) else sampler.encode(x)
    if fac.batch_size != 1:
        raise ValueError(f"interpolate: each endpoint must be one image / one sample, got batch "
                         f"{fac.batch_size}")
    return fac


@torch.no_grad()
def interpolate_factors(sampler, a: Any, b: Any, steps: int = 8,
                        factors: Sequence[str] | str | None = None, space: str = "embedding",
                        method: str = "linear", invert_steps: int = 300, seed: int | None = None,
                        render: bool = True) -> Interpolation:
    """See :meth:`dpiglib.sampling.sampler.Sampler.interpolate`."""
    from dpiglib.sampling.factors import Factors

    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (both endpoints), got {steps}")
    moving = tuple(sampler.factor_names if factors is None else
                   ((factors,) if isinstance(factors, str) else factors))
    bad = [f for f in moving if f not in sampler.factor_names]
    if bad:
        raise ValueError(f"interpolate: unknown factor(s) {bad}; choose from "
                         f"{sampler.factor_names}")
    fa, fb = _as_factors(sampler, a), _as_factors(sampler, b)
    dev = sampler.device
    t = torch.linspace(0, 1, steps)
    t[0], t[-1] = 0.0, 1.0
    emb = {f: v.to(dev).expand(steps, -1).clone() for f, v in fa.embeddings.items()}
    zs: dict[str, torch.Tensor] = {}
    rcv = fa.rcv.to(dev).expand(steps, -1, -1).clone()
    residual: dict[str, torch.Tensor] = {}
    for f in moving:
        if space == "embedding":
            if f not in fa.embeddings or f not in fb.embeddings:
                if f == "pose":
                    raise ValueError("interpolating pose in embedding space needs pose embeddings "
                                     "(a pose auto-encoder must be loaded)")
                raise ValueError(f"interpolate: an endpoint has no {f!r} embedding")
            emb[f] = mix(fa.embeddings[f].to(dev)[0], fb.embeddings[f].to(dev)[0], t.to(dev),
                         method)
        else:
            za, zb = fa.z.get(f), fb.z.get(f)
            for name, fac, zz in (("a", fa, za), ("b", fb, zb)):
                if zz is None:  # a real input: find its noise first
                    inv = sampler.invert(fac, [f], steps=invert_steps,
                                         seed=None if seed is None else seed + (name == "b"))
                    zz = inv.z[f]
                    residual.setdefault(f, torch.zeros(2))[name == "b"] = inv.residual[f][0].cpu()
                if name == "a":
                    za = zz
                else:
                    zb = zz
            zs[f] = mix(za.to(dev)[0], zb.to(dev)[0], t.to(dev), method)
            emb[f] = sampler.require_phi(f)(zs[f])
        if f == "pose":
            rcv = sampler.decode_pose(emb["pose"])
            if space == "embedding":  # the inputs' own keypoints at the endpoints
                rcv[0], rcv[-1] = fa.rcv[0].to(dev), fb.rcv[0].to(dev)
    fac = Factors(emb, rcv, zs, sampler.pose_heatmaps(rcv))
    images = sampler.render(fac) if render else None
    return Interpolation(t, fac, images, space, method, moving, residual)
