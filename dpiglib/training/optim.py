"""TensorFlow 1.x's RMSProp as a PyTorch optimiser (Stage-II ``wgan-clip``, orig §4.3).

The original Stage-II trains Φ and the critic with ``tf.train.RMSPropOptimizer(lr)`` (TF1
defaults decay ρ = 0.9, momentum μ = 0, ε = 1e-10). Its kernel (``ApplyRMSProp``) is::

    ms  ← ms + (g² − ms)·(1 − ρ)          # = ρ·ms + (1 − ρ)·g²
    mom ← μ·mom + g·lr / sqrt(ms + ε)
    θ   ← θ − mom

with the ``rms`` slot initialised to **one**. ``torch.optim.RMSprop`` differs twice: ε outside
the root (``g / (sqrt(ms) + ε)``) and ``ms`` starting at zero, so its first steps have size ≈ lr /
sqrt(1 − ρ) ≈ 3.2·lr where TF's are ≈ lr·|g| (a gentle warm-up while ``ms`` decays from 1).
:class:`TFRMSprop` follows TF's kernel operation for operation; its ``state_dict`` is the
standard one, so a resumed run continues bit-exactly.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

__all__ = ["TFRMSprop"]


class TFRMSprop(torch.optim.Optimizer):
    """``tf.train.RMSPropOptimizer`` (TF 1.x, not centred): ε inside the root, ``ms`` starts at 1.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (required: the caller passes the config's).
        rho: decay of the mean square (TF ``decay``, default 0.9).
        momentum: TF ``momentum`` (default 0).
        eps: TF ``epsilon`` (default 1e-10), added to ``ms`` under the square root.

    State per parameter: ``step`` (0-d tensor), ``square_avg`` (TF ``rms``), ``momentum_buffer``
    (TF ``momentum``).
    """

    def __init__(self, params: Iterable[Any], lr: float, rho: float = 0.9, momentum: float = 0.0,
                 eps: float = 1e-10):
        if not lr > 0:
            raise ValueError(f"TFRMSprop: lr must be > 0, got {lr}")
        if not 0 <= rho < 1:
            raise ValueError(f"TFRMSprop: rho must be in [0, 1), got {rho}")
        if not momentum >= 0:
            raise ValueError(f"TFRMSprop: momentum must be >= 0, got {momentum}")
        if not eps >= 0:
            raise ValueError(f"TFRMSprop: eps must be >= 0, got {eps}")
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps))

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, mu, eps = group["lr"], group["rho"], group["momentum"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.is_sparse:
                    raise RuntimeError("TFRMSprop does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                    state["momentum_buffer"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format)
                ms, mom = state["square_avg"], state["momentum_buffer"]
                state["step"] += 1
                ms.add_((g * g - ms) * (1 - rho))
                mom.mul_(mu).add_(g * lr / (ms + eps).sqrt())
                p.sub_(mom)
        return loss
