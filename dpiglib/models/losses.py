"""Losses of both stages (orig §3.6, orig §3.7, orig §4.3, orig B12).

Stage-I (``MODE='dcgan'``): sigmoid cross-entropy on logits,
    L_D = ½[CE(D(x), 1) + CE(D(G), 0)],   L_G = CE(D(G), 1) + λ_L1 · mean|G − x|   (λ_L1 = 20).
Pose AE: λ_pose · mean((rcv_norm − Ĝ_pose)²) over all 54 entries (λ_pose = 20).
Stage-II (``MODE='wgan'``, weight clipping, the original): L_critic = mean f(fake) − mean f(real),
L_Φ = −mean f(fake), critic weights clipped to [−c, c]. The optional WGAN-GP (orig B12) adds
λ · mean((‖∇f(x̂)‖₂ − 1)²) at random interpolates x̂.

Every term is returned separately so it can be logged (``stage1/g_adv``, ``stage1/g_l1`` …).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "Stage1GeneratorLoss",
    "stage1_discriminator_loss",
    "stage1_generator_loss",
    "masked_l1",
    "pose_ae_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
    "clip_weights_",
    "gradient_penalty",
]


class Stage1GeneratorLoss(NamedTuple):
    """Terms of the Stage-I generator loss. ``l1`` is the unweighted mean|G − x|."""

    total: torch.Tensor  # adv + lambda_l1 · l1 (what is back-propagated)
    adv: torch.Tensor  # CE(D(G), 1), averaged over all logits
    l1: torch.Tensor  # mean |G − x| over pixels and channels, in [−1, 1] units


def stage1_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """½[CE(D(x), 1) + CE(D(G), 0)], each CE averaged over every logit (DF: 8 per image)."""
    real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
    fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    return 0.5 * (real + fake)


def stage1_generator_loss(logits_fake: torch.Tensor, img_hat: torch.Tensor, img: torch.Tensor,
                          lambda_l1: float) -> Stage1GeneratorLoss:
    """CE(D(G), 1) + λ_L1 · mean|G − x| (orig §3.6; the ×20 is hard-coded in the original).

    Args:
        logits_fake: D(G), (B, k).
        img_hat: G, (B, 3, H, W), raw (unclipped) generator output.
        img: x, (B, 3, H, W) in [−1, 1].
        lambda_l1: weight of the L1 term (``Stage1Config.lambda_l1``).
    """
    if img_hat.shape != img.shape:
        raise ValueError(f"img_hat {tuple(img_hat.shape)} and img {tuple(img.shape)} must match")
    adv = F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
    l1 = (img_hat - img).abs().mean()
    return Stage1GeneratorLoss(total=adv + lambda_l1 * l1, adv=adv, l1=l1)


def masked_l1(img_hat: torch.Tensor, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``PoseMaskLoss`` = mean(|G − x| · mask) over all entries; logged only, never optimised
    (orig §3.6). mask (B, 1, H, W) broadcasts over channels."""
    return ((img_hat - img).abs() * mask).mean()


def pose_ae_loss(recon: torch.Tensor, target: torch.Tensor, lambda_pose: float) -> torch.Tensor:
    """λ_pose · mean squared error over all 54 normalised entries (orig §3.7).

    Args:
        recon: decoded pose, (B, 18, 3) or (B, 54).
        target: normalised input pose, (B, 18, 3) or (B, 54) (same layout after flattening).
        lambda_pose: weight (``Stage1Config.lambda_pose``).
    """
    b = recon.shape[0]
    r, t = recon.reshape(b, -1), target.reshape(target.shape[0], -1)
    if r.shape != t.shape:
        raise ValueError(f"recon {tuple(recon.shape)} and target {tuple(target.shape)} must hold "
                         "the same number of entries per pose")
    return lambda_pose * ((r - t) ** 2).mean()


def wgan_critic_loss(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """mean f(fake) − mean f(real) (the critic minimises this; trainer.py:218-220)."""
    return f_fake.mean() - f_real.mean()


def wgan_generator_loss(f_fake: torch.Tensor) -> torch.Tensor:
    """−mean f(fake) (Φ minimises this)."""
    return -f_fake.mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> nn.Module:
    """Clamp every parameter (weights and biases) of ``module`` to [−c, c] in place
    (c: ``Stage2Config.clip``).

    The original clips every tflib variable whose name contains "Discriminator" after each
    critic step (trainer.py:124-128), i.e. all critic parameters.
    """
    if c <= 0:
        raise ValueError(f"clip value c must be > 0, got {c}")
    for p in module.parameters():
        p.clamp_(-c, c)
    return module


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None, *, weight: float) -> torch.Tensor:
    """WGAN-GP penalty ``weight · mean((‖∇f(x̂)‖₂ − 1)²)`` at x̂ = α·real + (1−α)·fake.

    α ~ U(0, 1) per sample (as in the original's unused ``wgan-gp`` branch, trainer.py:222-236);
    the norm is over all non-batch dimensions. The graph is kept (``create_graph``) so the
    penalty trains the critic. ``fake`` is detached: the penalty is a critic-only term.

    Args:
        critic: maps (B, …) → (B, 1) or (B,).
        real, fake: (B, …) samples of the same shape.
        generator: torch.Generator for α (determinism).
        weight: λ (``Stage2Config.gp_lambda``); 1.0 returns the bare penalty.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must match")
    b = real.shape[0]
    alpha = torch.rand(b, *([1] * (real.dim() - 1)), generator=generator,
                       device=generator.device if generator is not None else real.device)
    alpha = alpha.to(device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    slopes = grad.reshape(b, -1).norm(2, dim=1)
    return weight * ((slopes - 1.0) ** 2).mean()
