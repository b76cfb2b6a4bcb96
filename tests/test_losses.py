"""Each loss of dpiglib.models.losses against a value computed by hand (orig §3.6, orig §3.7, orig §4.3, orig B12)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from dpiglib.models.losses import (clip_weights_, gradient_penalty, masked_l1, pose_ae_loss,
                                   stage1_discriminator_loss, stage1_generator_loss,
                                   wgan_critic_loss, wgan_generator_loss)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_stage1_discriminator_loss_hand_values():
    zero = torch.zeros(3, 1)
    assert stage1_discriminator_loss(zero, zero).item() == pytest.approx(math.log(2))
    # CE(2, 1) = softplus(−2); CE(−1, 0) = softplus(−1); L_D = ½(sum)
    got = stage1_discriminator_loss(torch.full((2, 1), 2.0), torch.full((2, 1), -1.0))
    assert got.item() == pytest.approx(0.5 * (_softplus(-2.0) + _softplus(-1.0)), rel=1e-6)
    # DF: 8 logits per image, averaged over all of them
    real = torch.tensor([[0.0] * 4 + [2.0] * 4])
    fake = torch.zeros(1, 8)
    want = 0.5 * ((4 * math.log(2) + 4 * _softplus(-2.0)) / 8 + math.log(2))
    assert stage1_discriminator_loss(real, fake).item() == pytest.approx(want, rel=1e-6)


def test_stage1_generator_loss_terms_hand_values():
    img = torch.zeros(2, 3, 4, 2)
    img_hat = torch.zeros(2, 3, 4, 2)
    img_hat[0] = 1.0  # half of the entries differ by 1 → mean|G − x| = 0.5
    out = stage1_generator_loss(torch.tensor([[1.0], [-3.0]]), img_hat, img, lambda_l1=20.0)
    adv = 0.5 * (_softplus(-1.0) + _softplus(3.0))  # CE(D(G), 1)
    assert out.adv.item() == pytest.approx(adv, rel=1e-6)
    assert out.l1.item() == pytest.approx(0.5)
    assert out.total.item() == pytest.approx(adv + 20 * 0.5, rel=1e-6)
    assert stage1_generator_loss(torch.zeros(2, 1), img_hat, img, 0.0).total.item() == pytest.approx(
        math.log(2))
    with pytest.raises(ValueError, match="img_hat"):
        stage1_generator_loss(torch.zeros(2, 1), img_hat[:1], img, 20.0)


def test_masked_l1_is_mean_over_all_entries():
    img_hat, img = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert masked_l1(img_hat, img, mask).item() == pytest.approx(3 / 12)


def test_pose_ae_loss_hand_value():
    recon = torch.zeros(2, 18, 3)
    target = torch.zeros(2, 54)
    target[0, 5] = 1.0
    target[1, 7] = -2.0  # squared errors 1 and 4 out of 108 entries
    assert pose_ae_loss(recon, target, lambda_pose=20.0).item() == pytest.approx(20 * 5 / 108)
    with pytest.raises(ValueError, match="recon"):
        pose_ae_loss(torch.zeros(2, 18, 2), target, 20.0)


def test_wgan_losses_hand_values():
    f_real = torch.tensor([[1.0], [3.0]])
    f_fake = torch.tensor([[0.0], [2.0]])
    assert wgan_critic_loss(f_real, f_fake).item() == pytest.approx(1.0 - 2.0)
    assert wgan_generator_loss(f_fake).item() == pytest.approx(-1.0)


def test_clip_weights_clamps_every_parameter():
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, -0.5, 0.001], [0.02, -0.003, -0.2]]))
        lin.bias.copy_(torch.tensor([0.3, -0.004]))
    clip_weights_(lin, 0.01)
    assert lin.weight.flatten().tolist() == pytest.approx([0.01, -0.01, 0.001, 0.01, -0.003, -0.01])
    assert lin.bias.tolist() == pytest.approx([0.01, -0.004])


def test_gradient_penalty_linear_critic():
    # f(x) = w·x + b has gradient w everywhere: penalty = λ(‖w‖ − 1)² whatever α is.
    critic = nn.Linear(4, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.0, 0.0, 0.0]]))  # ‖w‖ = 2
    real, fake = torch.randn(5, 4), torch.randn(5, 4)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0), weight=10.0)
    assert gp.item() == pytest.approx(10.0)
    gp.backward()  # create_graph: the penalty trains the critic; d/dw (‖w‖−1)² = 2(‖w‖−1)·w/‖w‖
    assert critic.weight.grad[0].tolist() == pytest.approx([20.0, 0.0, 0.0, 0.0])


def test_gradient_penalty_quadratic_critic_and_determinism():
    # f(x) = ½‖x‖²: ∇f(x̂) = x̂; with real == fake the interpolate is x itself.
    class Quad(nn.Module):
        def forward(self, x):
            return 0.5 * (x ** 2).sum(dim=1, keepdim=True)

    x = torch.tensor([[3.0, 4.0], [0.0, 0.5]])  # norms 5 and 0.5 → (4² + 0.5²) / 2
    assert gradient_penalty(Quad(), x, x.clone(), weight=1.0).item() == pytest.approx((16 + 0.25) / 2)
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    a = gradient_penalty(Quad(), real, fake, generator=torch.Generator().manual_seed(7), weight=1.0)
    b = gradient_penalty(Quad(), real, fake, generator=torch.Generator().manual_seed(7), weight=1.0)
    assert a.item() == b.item()
