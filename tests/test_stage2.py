"""Stage-II: objectives and optimisers, Φ learning, orig B2 and orig B3, exact resume, Stage-I fingerprint
checks, the embedding cache and the distribution statistics."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from dpiglib.data.annotations import find_dataset_files, is_all_missing, read_annotation_csv
from dpiglib.core.checkpoint import CheckpointError
from dpiglib.config import get_preset
from dpiglib.training.embedding_check import embedding_statistics, frechet_distance, rbf_mmd2
from dpiglib.training.embeddings import cached_embeddings, example_batch, sample_factor_images
from dpiglib.models.mapping import EmbeddingCritic, MappingNetwork
from dpiglib.training.optim import TFRMSprop
from dpiglib.data.pose import normalize_rcv
from dpiglib.models.pose_ae import PoseAutoEncoder
from dpiglib.training.stage1 import load_stage1, train_stage1
from dpiglib.training.stage2 import FactorTrainer, load_stage2, stage1_fingerprint, train_stage2
from dpiglib.models.stage2 import Stage2Model, build_stage2_model
from test_stage1 import make_fixture_dataset

TINY_S2 = dict(model_width=8, model_disc_width=8, model_pose_hidden=16, model_pose_blocks=1,
               model_mapping_width_fg=16, model_mapping_width_bg=16, model_mapping_width_pose=16,
               model_mapping_blocks=1, model_critic_width=16, model_critic_hidden_layers=1,
               stage1_batch_size=4, stage1_steps=1, stage1_pose_ae_steps=5,
               stage1_pose_ae_batch_size=4, stage1_log_every=1, stage1_val_images=4,
               stage2_steps=6, stage2_pose_steps=4, stage2_batch_size=4, stage2_pose_batch_size=4,
               stage2_critic_steps=2, stage2_log_every=1, stage2_checkpoint_every=3,
               stage2_keep_last=1)


def tiny_cfg(**overrides):
    return get_preset("synth-tiny", **{**TINY_S2, **overrides})


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny nets: one thread avoids oversubscription on shared 2-core machines (100× slower)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_fixture_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def stage1_run(data_root, tmp_path_factory):
    """A Stage-I run (image model 1 step, pose AE 5 steps) shared by the trainer tests."""
    run = tmp_path_factory.mktemp("stage1")
    cfg = tiny_cfg()
    for model in ("image", "pose"):
        train_stage1(cfg, data_root, run, device="cpu", model=model, progress=False)
    return run


def _trainer(objective, dim=6, n=64, batch=8, **s2_overrides):
    cfg = tiny_cfg(stage2_objective=objective)
    s2 = replace(cfg.stage2, **s2_overrides)
    torch.manual_seed(0)
    phi, critic = MappingNetwork(dim, 16, 1), EmbeddingCritic(dim, 16, 1)
    return FactorTrainer("fg", phi, critic, torch.randn(n, dim), s2, batch, seed=0)


# --------------------------------------------------------------------------------------------
# Objectives, optimisers and the update order
# --------------------------------------------------------------------------------------------


def test_wgan_clip_uses_tf_rmsprop_and_clips_every_critic_parameter():
    t = _trainer("wgan-clip", clip=0.01)
    assert isinstance(t.opt_phi, TFRMSprop) and isinstance(t.opt_critic, TFRMSprop)
    for opt in (t.opt_phi, t.opt_critic):  # tf.train.RMSPropOptimizer(lr)'s TF1 defaults
        assert {k: opt.defaults[k] for k in ("lr", "rho", "momentum", "eps")} == dict(
            lr=t.s2.lr, rho=0.9, momentum=0.0, eps=1e-10)
    assert max(p.abs().max().item() for p in t.critic.parameters()) > 0.01  # He init is larger
    t.step(0)
    for name, p in t.critic.named_parameters():
        assert p.abs().max().item() <= 0.01 + 1e-12, name
    # the clip binds: weights sit at the bound (not merely shrunk by the optimiser)
    assert any((p.abs() == 0.01).any() for p in t.critic.parameters())
    assert max(p.abs().max().item() for p in t.phi.parameters()) > 0.01  # Φ is never clipped


def _tf_rmsprop_by_hand(theta, grad_fn, lr, rho, mu, eps, steps):
    """TF1 ApplyRMSProp written out: ms starts at 1, ε inside the root."""
    ms, mom, out = torch.ones_like(theta), torch.zeros_like(theta), []
    for _ in range(steps):
        g = grad_fn(theta)
        ms = rho * ms + (1 - rho) * g * g
        mom = mu * mom + lr * g / torch.sqrt(ms + eps)
        theta = theta - mom
        out.append(theta)
    return out


@pytest.mark.parametrize("mu,eps", [(0.0, 1e-10), (0.5, 1e-3)])
def test_tf_rmsprop_follows_the_tf_formula_and_resumes_exactly(mu, eps):
    target = torch.tensor([3.0, -2.0, 0.5, 0.0, 1e-4], dtype=torch.float64)

    def grad_fn(x):  # gradient of sum((x - target)^3 / 3 + x^2): changes every step
        return (x - target) ** 2 * torch.sign(x - target) + 2 * x

    x0 = torch.tensor([0.1, 0.2, -0.3, 0.0, 2.0], dtype=torch.float64)
    lr, rho = 0.05, 0.9
    expected = _tf_rmsprop_by_hand(x0.clone(), grad_fn, lr, rho, mu, eps, 6)

    def run(opt, p, steps):
        got = []
        for _ in range(steps):
            opt.zero_grad()
            p.grad = grad_fn(p.detach())
            opt.step()
            got.append(p.detach().clone())
        return got

    p = torch.nn.Parameter(x0.clone())
    opt = TFRMSprop([p], lr=lr, rho=rho, momentum=mu, eps=eps)
    got = run(opt, p, 3)
    # resume from the state dict half-way: the same trajectory, bit for bit
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = TFRMSprop([q], lr=lr, rho=rho, momentum=mu, eps=eps)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as through torch.save/load
    resumed = run(opt2, q, 3)
    got += run(opt, p, 3)
    for k, (g, e) in enumerate(zip(got, expected)):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-15, msg=f"step {k + 1}")
    for a, b in zip(resumed, got[3:]):
        assert torch.equal(a, b)
    assert opt.state_dict()["state"][0]["step"].item() == 6
    # torch.optim.RMSprop (ε outside the root, mean square from 0) takes another path
    r = torch.nn.Parameter(x0.clone())
    torch_steps = run(torch.optim.RMSprop([r], lr=lr, alpha=rho, eps=eps, momentum=mu), r, 1)
    assert (torch_steps[0] - expected[0]).abs().max() > 0.05


def test_wgan_gp_uses_adam_and_a_finite_penalty():
    t = _trainer("wgan-gp")
    assert isinstance(t.opt_phi, torch.optim.Adam) and isinstance(t.opt_critic, torch.optim.Adam)
    assert t.opt_critic.defaults["betas"] == (0.5, 0.9)
    out = t.step(0)
    assert torch.isfinite(out["gp"]) and out["gp"].item() > 0
    assert torch.isclose(out["critic"], -out["wdist"] + out["gp"], atol=1e-6)
    assert max(p.abs().max().item() for p in t.critic.parameters()) > 0.01  # no clipping


def test_step0_skips_phi_then_phi_updates_before_the_critics():
    t = _trainer("wgan-clip")
    phi0 = {k: v.clone() for k, v in t.phi.state_dict().items()}
    out0 = t.step(0)
    assert "phi" not in out0
    assert all(torch.equal(v, t.phi.state_dict()[k]) for k, v in phi0.items())
    assert not t.opt_phi.state  # no Φ step taken
    out1 = t.step(1)
    # TF RMSProp's first steps are ≈ lr·g (mean square starts at 1) and the clipped critic's
    # gradients are tiny, so in fp32 only some of Φ's parameters (the biases, near 0) move yet
    assert "phi" in out1 and any(not torch.equal(v, t.phi.state_dict()[k]) for k, v in phi0.items())
    # two critic steps per step: real batches 2, 3 of the data order were used at step 1
    assert t.opt_critic.state_dict()["state"][0]["step"].item() == 4
    assert t.opt_phi.state_dict()["state"][0]["step"].item() == 1


def test_wasserstein_estimate_is_mean_real_minus_mean_fake():
    t = _trainer("wgan-clip")
    critic0 = {k: v.clone() for k, v in t.critic.state_dict().items()}
    gen0 = t.gen.get_state()
    _, wdist, _ = t.critic_step(0)
    # replay the same draws with the critic before the update
    t.critic.load_state_dict(critic0)
    t.gen.set_state(gen0)
    idx, _ = t.order.batch(0)
    with torch.no_grad():
        fake = t.phi(t._noise())
        expect = t.critic(t.real[idx]).mean() - t.critic(fake).mean()
    assert torch.isclose(wdist, expect, atol=1e-6)


@pytest.mark.parametrize("objective,lr", [("wgan-gp", 1e-3), ("wgan-clip", 1e-3)])
def test_phi_learns_a_shifted_gaussian(objective, lr):
    """A real learning test: Φ's output mean moves to μ ≠ 0 of N(μ, Σ) target embeddings."""
    g = torch.Generator().manual_seed(1)
    dim = 4
    mu = torch.tensor([1.0, -0.8, 0.6, 0.5])
    real = mu + 0.3 * torch.randn(2048, dim, generator=g)
    cfg = tiny_cfg(stage2_objective=objective, stage2_lr=lr)
    torch.manual_seed(0)
    phi, critic = MappingNetwork(dim, 32, 1), EmbeddingCritic(dim, 32, 1)
    t = FactorTrainer("fg", phi, critic, real, replace(cfg.stage2, critic_steps=5), 64, seed=0)

    def dist():
        with torch.no_grad():
            fake = phi(0.2 * torch.randn(2048, dim, generator=torch.Generator().manual_seed(2)))
        return embedding_statistics(real, fake)["mean_dist"]

    before = dist()
    for it in range(300):
        t.step(it)
    after = dist()
    assert after < 0.4 * before, (before, after)


# --------------------------------------------------------------------------------------------
# Models, factors (orig B3) and the trainer on a Stage-I run
# --------------------------------------------------------------------------------------------


def test_factors_and_widths_follow_the_paper():
    m_cfg, df_cfg = get_preset("market"), get_preset("deepfashion")
    market = Stage2Model(m_cfg.model, noise_std=m_cfg.stage2.noise_std)
    assert market.factors == ["fg", "bg", "pose"]
    assert market.dims == {"fg": 224, "bg": 128, "pose": 32}
    assert market.phi["bg"].fc_in.out_features == 256 and market.phi["fg"].fc_in.out_features == 512
    df = Stage2Model(df_cfg.model, noise_std=df_cfg.stage2.noise_std)
    assert df.factors == ["app", "pose"] and df.dims["app"] == 224  # orig B3: one Φ for appearance
    with pytest.raises(ValueError, match="unknown Stage-II factor"):
        Stage2Model(df_cfg.model, ["bg"], noise_std=df_cfg.stage2.noise_std)
    z = df.noise("pose", 20000, torch.Generator().manual_seed(0))
    assert z.shape == (20000, 32) and abs(z.std().item() - 0.2) < 0.005  # orig B13


def test_train_writes_the_run_layout(data_root, stage1_run, tmp_path):
    cfg = tiny_cfg()
    out = train_stage2(cfg, data_root, tmp_path, device="cpu", progress=False, stage1_run=stage1_run)
    sdir = tmp_path / "stage2"
    log = pd.read_csv(sdir / "log.csv")
    assert log["step"].tolist() == [1, 2, 3, 4, 5, 6]
    assert log["fg/phi"].isna().tolist() == [True] + [False] * 5  # no Φ update at step 0
    assert log["pose/critic"].notna().tolist() == [True] * 4 + [False] * 2  # pose_steps = 4
    dist = pd.read_csv(sdir / "distribution.csv")
    assert set(dist[dist.phi == "init"].step) == {0}
    assert sorted(set(dist[dist.phi == "trained"].step)) == [3, 6]
    assert set(dist.factor) == {"fg", "bg", "pose"}
    summary = json.loads((sdir / "summary.json").read_text())
    assert summary["step"] == 6 and set(summary["stats"]) == {"fg", "bg", "pose"}
    assert summary["stats_init"]["fg"]["mean_dist"] == pytest.approx(
        dist[(dist.phi == "init") & (dist.factor == "fg")]["mean_dist"].item())
    assert (sdir / "embeddings.pt").is_file() and (sdir / "checkpoints" / "latest.pt").is_file()
    assert out["real"]["fg"].shape == (2 * 12, 224) and out["real"]["bg"].shape == (24, 128)
    # a finished run reloads instead of training again ("load if it exists, else train")
    again = train_stage2(cfg, data_root, tmp_path, device="cpu", progress=False,
                         stage1_run=stage1_run)
    assert again["steps_run"] == 0
    for k, v in out["model"].state_dict().items():
        assert torch.equal(v, again["model"].state_dict()[k]), k


def test_encoding_the_training_set_shows_a_progress_bar(data_root, stage1_run, capsys):
    """The real-embedding pass takes minutes at 128×64 on a CPU: with progress on it has a bar,
    with progress off it prints nothing."""
    from dpiglib.training.embeddings import real_embeddings

    cfg = tiny_cfg()
    model, _, _ = load_stage1(stage1_run, device="cpu")
    quiet = real_embeddings(model, None, cfg, data_root, ["fg"], progress=False)
    assert "encode training set" not in capsys.readouterr().err
    shown = real_embeddings(model, None, cfg, data_root, ["fg"], progress=True)
    err = capsys.readouterr().err
    assert "encode training set" in err and "/24 [" in err  # 12 images, unflipped and flipped
    assert torch.equal(quiet["fg"], shown["fg"])


def test_pose_phi_trains_against_the_trained_pose_autoencoder(data_root, stage1_run, tmp_path):
    """B2: real pose embeddings come from the Stage-I pose checkpoint's encoder."""
    cfg = tiny_cfg(stage2_steps=1, stage2_pose_steps=1)
    out = train_stage2(cfg, data_root, tmp_path, device="cpu", progress=False,
                       stage1_run=stage1_run, factors=["pose"])
    _, pae, _ = load_stage1(stage1_run)
    ann = read_annotation_csv(find_dataset_files(data_root, "train", "synth").annotation)
    rcv = torch.from_numpy(np.stack([r for r in ann.values() if not is_all_missing(r)]))
    want = pae.encode(normalize_rcv(rcv, cfg.data.image_size)).detach()
    got = out["real"]["pose"]
    assert got.shape == (2 * len(rcv), cfg.model.pose_dim)  # unflipped + flipped
    assert torch.allclose(got[:len(rcv)], want, atol=1e-6)
    torch.manual_seed(123)
    untrained = PoseAutoEncoder(cfg.model).encode(normalize_rcv(rcv, cfg.data.image_size))
    assert not torch.allclose(got[:len(rcv)], untrained, atol=1e-3)


def test_pose_factor_without_a_trained_pose_ae_fails(data_root, stage1_run, tmp_path):
    import shutil
    shutil.copytree(stage1_run / "stage1" / "checkpoints", tmp_path / "stage1" / "checkpoints")
    with pytest.raises(CheckpointError, match="B2"):
        train_stage2(tiny_cfg(), data_root, tmp_path, device="cpu", progress=False)


def test_deepfashion_like_appearance_loop(data_root, tmp_path):
    """B3: without a background branch one Φ ("app") learns the whole appearance embedding."""
    cfg = tiny_cfg(model_background_dim=0, model_mask_features=False, stage2_steps=2)
    train_stage1(cfg, data_root, tmp_path, device="cpu", model="image", progress=False)
    out = train_stage2(cfg, data_root, tmp_path, device="cpu", progress=False, factors=["app"])
    assert out["model"].factors == ["app"] and out["real"]["app"].shape == (24, 224)
    assert np.isfinite(out["app/critic"])


def test_resume_equals_uninterrupted(data_root, stage1_run, tmp_path):
    cfg = tiny_cfg(stage2_objective="wgan-gp")
    full = train_stage2(cfg, data_root, tmp_path / "full", device="cpu", progress=False,
                        stage1_run=stage1_run)
    first = train_stage2(cfg, data_root, tmp_path / "split", device="cpu", progress=False,
                         stage1_run=stage1_run, max_steps=3)
    assert first["step"] == 3
    second = train_stage2(cfg, data_root, tmp_path / "split", device="cpu", progress=False,
                          stage1_run=stage1_run)
    assert second["steps_run"] == 3
    a, b = full["model"].state_dict(), second["model"].state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    la = pd.read_csv(tmp_path / "full" / "stage2" / "log.csv").drop(columns=["time", "steps_per_s"])
    lb = pd.read_csv(tmp_path / "split" / "stage2" / "log.csv").drop(columns=["time", "steps_per_s"])
    pd.testing.assert_frame_equal(la, lb)
    assert full["stats"] == second["stats"] and full["stats_init"] == second["stats_init"]


def test_wrong_stage1_fails_clearly(data_root, stage1_run, tmp_path):
    cfg = tiny_cfg(stage2_steps=1, stage2_pose_steps=1)
    train_stage2(cfg, data_root, tmp_path, device="cpu", progress=False, stage1_run=stage1_run)
    model, pae, _ = load_stage1(stage1_run)
    assert load_stage2(tmp_path, stage1=(model, pae)).step == 1  # the right one loads
    assert load_stage2(tmp_path, stage1=stage1_run).factors == ["fg", "bg", "pose"]
    right = stage1_fingerprint(model, pae)
    with torch.no_grad():
        model.encoder.stem[0].weight.add_(1e-3)  # "another" Stage-I
    wrong = stage1_fingerprint(model, pae)
    assert wrong["image"] != right["image"] and wrong["pose"] == right["pose"]
    with pytest.raises(CheckpointError) as exc:
        load_stage2(tmp_path / "stage2" / "checkpoints" / "latest.pt", stage1=(model, pae))
    msg = str(exc.value)
    assert right["image"][:16] in msg and wrong["image"][:16] in msg
    assert "other Stage-I weights" in msg and "retrain" in msg
    with pytest.raises(CheckpointError, match="other Stage-I weights"):
        load_stage2(tmp_path, stage1={"image": "0" * 64, "pose": right["pose"]})


def test_resume_against_another_stage1_fails(data_root, stage1_run, tmp_path):
    cfg = tiny_cfg(stage2_steps=2, stage2_pose_steps=2)
    import shutil
    shutil.copytree(stage1_run / "stage1", tmp_path / "stage1")
    train_stage2(cfg, data_root, tmp_path, device="cpu", progress=False, max_steps=1)
    train_stage1(tiny_cfg(stage1_pose_ae_steps=6), data_root, tmp_path, device="cpu",
                 model="pose", progress=False)  # the pose AE moves on: new weights
    with pytest.raises(CheckpointError, match="pose: checkpoint"):
        train_stage2(cfg, data_root, tmp_path, device="cpu", progress=False)


def test_sample_factor_images_decodes_each_factor(data_root, stage1_run):
    cfg = tiny_cfg()
    model, pae, _ = load_stage1(stage1_run)
    s2 = build_stage2_model(cfg)
    batch = example_batch(cfg, data_root, n=3)
    rows, rcv = sample_factor_images(model, pae, s2, batch, cfg, seed=0)
    assert list(rows) == ["real", "reconstruction", "fg", "bg", "pose"]
    assert all(v.shape == (3, 3, 64, 32) for v in rows.values())
    assert rcv.shape == (3, 18, 3) and (rcv[..., 0] <= 63).all() and (rcv[..., 1] <= 31).all()
    for f in ("fg", "bg", "pose"):
        assert not torch.allclose(rows[f], rows["reconstruction"]), f
    again, _ = sample_factor_images(model, pae, s2, batch, cfg, seed=0)
    assert all(torch.equal(again[k], rows[k]) for k in rows)


def test_embedding_cache_is_keyed(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"fg": torch.full((3, 2), float(len(calls)))}

    path = tmp_path / "embeddings.pt"
    a = cached_embeddings(path, {"stage1_fingerprint": {"image": "a"}}, compute)
    b = cached_embeddings(path, {"stage1_fingerprint": {"image": "a"}}, compute)
    assert len(calls) == 1 and torch.equal(a["fg"], b["fg"])
    c = cached_embeddings(path, {"stage1_fingerprint": {"image": "b"}}, compute)
    assert len(calls) == 2 and c["fg"][0, 0] == 2


# --------------------------------------------------------------------------------------------
# Distribution statistics
# --------------------------------------------------------------------------------------------


def test_statistics_of_identical_and_shifted_sets():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=g, dtype=torch.float64)
    same = embedding_statistics(x, x)
    assert same["mean_dist"] == 0 and same["cov_frob"] == 0
    assert abs(same["frechet"]) < 1e-8
    assert -2 / 400 <= same["mmd2"] <= 0  # −2/N·(1 − mean k) for identical sets
    shift = torch.tensor([0.5, 0, 0, 0, 0], dtype=torch.float64)
    moved = embedding_statistics(x, x + shift)
    assert moved["mean_dist"] == pytest.approx(0.5, abs=1e-9)
    assert moved["cov_frob"] == pytest.approx(0.0, abs=1e-9)
    assert moved["frechet"] == pytest.approx(0.25, abs=1e-6)  # ‖Δμ‖² with equal covariances
    assert moved["mmd2"] > 0.005 > 0 >= same["mmd2"]
    far = embedding_statistics(x, x + 4 * shift)
    assert far["mmd2"] > moved["mmd2"] and far["frechet"] == pytest.approx(4.0, abs=1e-6)


def test_frechet_of_a_scaled_set_is_the_trace():
    # fake = 2x (centred): ‖0‖² + tr(Σ + 4Σ − 2·(Σ^½ 4Σ Σ^½)^½) = tr(Σ + 4Σ − 4Σ) = tr(Σ)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 4, generator=g, dtype=torch.float64) @ torch.diag(
        torch.tensor([1.0, 0.5, 2.0, 0.1], dtype=torch.float64))
    x = x - x.mean(0)
    cov = torch.cov(x.T)
    assert frechet_distance(x.mean(0), cov, (2 * x).mean(0), torch.cov((2 * x).T)) == \
        pytest.approx(torch.trace(cov).item(), rel=1e-6)


def test_mmd_is_unbiased_near_zero_for_one_distribution():
    g = torch.Generator().manual_seed(5)
    vals = [rbf_mmd2(torch.randn(200, 3, generator=g), torch.randn(200, 3, generator=g))
            for _ in range(20)]
    assert abs(np.mean(vals)) < 2e-3  # unbiased: the mean over repeats sits at 0
    assert min(vals) < 0 < max(vals)
    shifted = rbf_mmd2(torch.randn(200, 3, generator=g), 1.0 + torch.randn(200, 3, generator=g))
    assert shifted > 10 * max(vals)
