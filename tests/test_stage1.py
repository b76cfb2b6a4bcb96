"""Stage-I trainer: update order, exact resume, NaN guard, overfitting, pose AE, run layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageDraw

from dpiglib.models import losses
from dpiglib.training import stage1
from dpiglib.data.annotations import write_annotation_csv
from dpiglib.core.checkpoint import CheckpointError, load_checkpoint
from dpiglib.config import get_preset
from dpiglib.data.datasets import PersonDataset, prepare_batch
from dpiglib.core.runlog import NonFiniteLossError
from dpiglib.core.runtime import seed_everything
from dpiglib.models.stage1 import Stage1Model
from dpiglib.training.stage1 import load_stage1, reconstruction_ssim, train_stage1

# A standing person in a 128×64 frame: (row, col) of the 18 keypoints (OpenPose COCO order).
_TEMPLATE = np.array([[18, 32], [30, 32], [30, 22], [46, 18], [60, 16], [30, 42], [46, 46],
                      [60, 48], [64, 26], [88, 26], [112, 26], [64, 38], [88, 38], [112, 38],
                      [15, 29], [15, 35], [17, 26], [17, 38]], dtype=np.float32)


def make_fixture_dataset(root: Path, n_train: int = 12, n_test: int = 4,
                         size: tuple[int, int] = (64, 32), seed: int = 0) -> Path:
    """A tiny person-like dataset in the kit's on-disk format (``synth`` prefix), written in
    well under a second: jittered stick figures with per-identity clothing colours."""
    rng = np.random.default_rng(seed)
    h, w = size
    for split, n in (("train", n_train), ("test", n_test)):
        (root / split).mkdir(parents=True, exist_ok=True)
        names, rcvs = [], []
        for i in range(n):
            ident = i // 4 + (0 if split == "train" else 100)
            rc = _TEMPLATE * (h / 128) + rng.normal(0, h / 64, (18, 2))
            rc[:, 0], rc[:, 1] = rc[:, 0].clip(0, h - 1), rc[:, 1].clip(0, w - 1)
            rcv = np.concatenate([rc, np.ones((18, 1))], 1).astype(np.float32)
            if i % 5 == 3:
                rcv[int(rng.integers(0, 18))] = 0  # a missing keypoint now and then
            crng = np.random.default_rng(1000 + ident)
            top, legs = (tuple(int(v) for v in crng.integers(0, 256, 3)) for _ in range(2))
            im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
            d = ImageDraw.Draw(im)
            p = lambda k: (float(rc[k, 1]), float(rc[k, 0]))  # noqa: E731  (x, y) for PIL
            d.polygon([p(2), p(5), p(11), p(8)], fill=top)
            for a, b, col in ((2, 3, top), (3, 4, top), (5, 6, top), (6, 7, top),
                              (8, 9, legs), (9, 10, legs), (11, 12, legs), (12, 13, legs)):
                d.line([p(a), p(b)], fill=col, width=max(2, w // 10))
            x0, y0 = p(0)
            d.ellipse([x0 - w / 10, y0 - h / 20, x0 + w / 10, y0 + h / 20], fill=(230, 190, 160))
            name = f"{ident:04d}_{split}_{i:03d}.png"
            im.save(root / split / name)
            names.append(name)
            rcvs.append(rcv)
        write_annotation_csv(root / f"synth-annotation-{split}.csv", names, np.stack(rcvs))
    return root


def tiny_cfg(**overrides):
    """synth-tiny at width 8: a Stage-I step takes ~0.05 s on one CPU core."""
    base = dict(model_width=8, model_disc_width=8, stage1_batch_size=4, stage1_steps=6,
                stage1_log_every=2, stage1_checkpoint_every=3, stage1_sample_every=3,
                stage1_val_every=3, stage1_val_images=4, stage1_keep_last=1,
                stage1_pose_ae_batch_size=4, stage1_pose_ae_steps=6, model_pose_hidden=32,
                model_pose_blocks=1, stage1_amp="off")  # fp32 on every CPU: exact comparisons
    base.update(overrides)
    return get_preset("synth-tiny", **base)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    torch.set_num_threads(1)
    return make_fixture_dataset(tmp_path_factory.mktemp("data"))


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_step0_updates_only_the_discriminator(data_root, tmp_path):
    cfg = tiny_cfg(stage1_steps=1)
    seed_everything(cfg.seed)
    init = _params(Stage1Model(cfg.model))
    out = train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    after = out["model"].state_dict()
    for k, v in init.items():
        same = torch.equal(after[k], v)
        assert same == (not k.startswith("discriminator.")), k


@pytest.mark.parametrize("accum", [1, 2])
def test_resume_equals_uninterrupted(data_root, tmp_path, accum):
    # 12 images / batch 4 = 3 batches per epoch: 6 steps (7 draws) cross two epoch boundaries
    cfg = tiny_cfg(stage1_batch_size=4 // accum, stage1_grad_accum=accum, stage1_log_every=1)
    full = train_stage1(cfg, data_root, tmp_path / "full", device="cpu", progress=False)
    first = train_stage1(cfg, data_root, tmp_path / "split", device="cpu", progress=False,
                         max_steps=3)
    assert first["step"] == 3
    second = train_stage1(cfg, data_root, tmp_path / "split", device="cpu", progress=False)
    assert second["steps_run"] == 3
    a, b = full["model"].state_dict(), second["model"].state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log_a = pd.read_csv(tmp_path / "full" / "stage1" / "log.csv")
    log_b = pd.read_csv(tmp_path / "split" / "stage1" / "log.csv")
    assert log_b["step"].tolist() == [1, 2, 3, 4, 5, 6]  # no duplicated rows after the resume
    cols = ["lr", "d_loss", "g_adv", "g_l1", "g_total", "masked_l1"]
    pd.testing.assert_frame_equal(log_a[cols], log_b[cols])


def test_pose_resume_equals_uninterrupted(data_root, tmp_path):
    cfg = tiny_cfg()
    full = train_stage1(cfg, data_root, tmp_path / "full", device="cpu", model="pose",
                        progress=False)
    train_stage1(cfg, data_root, tmp_path / "split", device="cpu", model="pose",
                 progress=False, max_steps=3)
    second = train_stage1(cfg, data_root, tmp_path / "split", device="cpu", model="pose",
                          progress=False)
    for k, v in full["model"].state_dict().items():
        assert torch.equal(v, second["model"].state_dict()[k]), k


def test_nan_guard_keeps_last_good_checkpoint(data_root, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = losses.stage1_discriminator_loss

    def poisoned(lr, lf):  # the 5th D update (step 5) returns NaN
        calls["n"] += 1
        out = real(lr, lf)
        return out * float("nan") if calls["n"] == 5 else out

    monkeypatch.setattr(stage1.losses, "stage1_discriminator_loss", poisoned)
    cfg = tiny_cfg(stage1_steps=8, stage1_checkpoint_every=2, stage1_keep_last=3)
    with pytest.raises(NonFiniteLossError, match=r"'d_loss' became nan at or before step 6") as e:
        train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    assert "latest.pt" in str(e.value)
    ck = load_checkpoint(tmp_path / "stage1" / "checkpoints" / "latest.pt", "stage1", cfg)
    assert ck["step"] == 4
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert pd.read_csv(tmp_path / "stage1" / "log.csv")["step"].tolist() == [2, 4]


def test_nonfinite_parameters_never_checkpointed(data_root, tmp_path):
    # lr = inf makes the weights inf/NaN after the first update while step 1's loss is finite
    cfg = tiny_cfg(stage1_lr=float("inf"), stage1_checkpoint_every=1, stage1_log_every=10)
    with pytest.raises(NonFiniteLossError):
        train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    assert not (tmp_path / "stage1" / "checkpoints" / "latest.pt").exists()


def test_overfits_four_images(tmp_path):
    # On 4 images D memorises the reals within ~20 steps and its gradient swamps λ=20·L1 at
    # width 8, so this test weights the reconstruction more (λ_L1 = 200): it checks that the
    # encoder + generator really learn to reconstruct through the trainer's G updates.
    root = make_fixture_dataset(tmp_path / "d4", n_train=4, n_test=4, seed=3)
    cfg = tiny_cfg(stage1_steps=60, stage1_lr=1e-3, stage1_lambda_l1=200.0, data_flip=False,
                   stage1_log_every=20, stage1_checkpoint_every=60, stage1_sample_every=60,
                   stage1_val_every=60)
    ds = PersonDataset(root, "train", cfg.data, flip=False)
    batch = prepare_batch(torch.utils.data.default_collate([ds.load(i) for i in range(4)]),
                          cfg.data, "cpu")

    def l1(model):
        with torch.no_grad():
            rec = model.reconstruct(batch["image"], batch["boxes"], batch["box_vis"],
                                    batch["heatmap"], batch["mask"])
        return (rec - batch["image"]).abs().mean().item()

    seed_everything(cfg.seed)
    untrained = l1(Stage1Model(cfg.model).eval())
    out = train_stage1(cfg, root, tmp_path / "run", device="cpu", progress=False)
    trained = l1(out["model"].eval())
    # measured: untrained 0.63, trained 0.17 after 60 steps
    assert trained < 0.5 * untrained, (trained, untrained)
    assert trained < 0.25, trained


def test_pose_ae_loss_decreases(data_root, tmp_path):
    cfg = tiny_cfg(stage1_pose_ae_steps=60, stage1_pose_ae_lr=1e-3, stage1_log_every=10,
                   stage1_checkpoint_every=60, stage1_val_every=60)
    out = train_stage1(cfg, data_root, tmp_path, device="cpu", model="pose", progress=False)
    log = pd.read_csv(tmp_path / "stage1" / "pose_log.csv")
    assert log["step"].tolist() == [10, 20, 30, 40, 50, 60]
    # measured: ≈ 9 over the first 10 steps, < 1 over the last 10
    assert log["pose_loss"].iloc[-1] < 0.2 * log["pose_loss"].iloc[0]
    assert np.isfinite(out["val_pose_loss"])
    assert (tmp_path / "stage1" / "pose_checkpoints" / "latest.pt").exists()


def test_cpu_channels_last_is_a_layout_change_only(data_root, tmp_path):
    # CPU steps run channels-last by default (oneDNN convolutions are faster in it); turning it
    # off must give the same training up to float summation order
    cfg = {cl: tiny_cfg(stage1_steps=3, stage1_log_every=1, stage1_channels_last=cl)
           for cl in (True, False)}
    runs = {cl: train_stage1(cfg[cl], data_root, tmp_path / str(cl), device="cpu",
                             progress=False)["model"] for cl in (True, False)}
    w_on, w_off = (runs[cl].generator.in_conv.weight for cl in (True, False))
    assert w_on.is_contiguous(memory_format=torch.channels_last) and not w_on.is_contiguous()
    assert w_off.is_contiguous()
    seed_everything(cfg[True].seed)
    init = _params(Stage1Model(cfg[True].model))
    on, off = runs[True].state_dict(), runs[False].state_dict()
    # Adam moves each weight by about ±lr per step whatever the gradient's size, so a gradient
    # near 0 whose sign flips with the rounding can differ by up to 2·lr·steps
    bound = 2 * cfg[True].stage1.lr * 3 + 1e-6
    for k in on:
        assert (on[k].float() - off[k].float()).abs().max() <= bound, k
    assert not torch.allclose(on["generator.in_conv.weight"], init["generator.in_conv.weight"])
    logs = [pd.read_csv(tmp_path / str(cl) / "stage1" / "log.csv") for cl in (True, False)]
    cols = ["d_loss", "g_l1", "masked_l1"]
    pd.testing.assert_frame_equal(logs[0][cols], logs[1][cols], rtol=1e-3)


def test_run_layout_and_load(data_root, tmp_path):
    cfg = tiny_cfg(model_disc_batching="joint")
    out = train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    train_stage1(cfg, data_root, tmp_path, device="cpu", model="pose", progress=False)
    d = tmp_path / "stage1"
    log = pd.read_csv(d / "log.csv")
    assert list(log.columns) == stage1.LOG_COLUMNS and log["step"].tolist() == [2, 4, 6]
    assert (log["lr"] == cfg.stage1.lr).all()
    val = pd.read_csv(d / "val.csv")
    assert val["step"].tolist() == [3, 6] and (val["images"] == 4).all()
    assert ((val["val_ssim"] > -1) & (val["val_ssim"] <= 1)).all()
    assert sorted(os.listdir(d / "samples")) == ["step_000003.png", "step_000006.png"]
    # 2 rows (inputs, reconstructions) of 8 images, 64×32, 2-pixel padding
    assert Image.open(d / "samples" / "step_000006.png").size == (8 * 34 + 2, 2 * 66 + 2)
    assert sorted(os.listdir(d / "checkpoints")) == ["latest.pt", "step_0000006.pt"]
    assert out["precision"] == "fp32"  # amp "off"; config.json records it for the run
    assert json.loads((tmp_path / "config.json").read_text())["resolved"] == {
        "stage1_precision": "fp32", "stage1_compile": "off"}
    assert train_stage1(tiny_cfg(stage1_amp="bf16", stage1_steps=1), data_root, tmp_path / "bf",
                        device="cpu", progress=False)["precision"] == "bf16"
    assert "bf16" in (tmp_path / "bf" / "config.json").read_text()
    model, pae, cfg2 = load_stage1(tmp_path)
    assert cfg2 == cfg and pae is not None
    for k, v in out["model"].state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    model_b, _, _ = load_stage1(d / "checkpoints" / "step_0000006.pt")
    assert torch.equal(next(model_b.parameters()), next(model.parameters()))
    # resuming into another architecture names the differing field
    with pytest.raises(CheckpointError, match="model.width: checkpoint 8, config 12"):
        train_stage1(tiny_cfg(model_width=12), data_root, tmp_path, device="cpu",
                     progress=False)


def test_lr_halving_schedule(data_root, tmp_path):
    cfg = tiny_cfg(stage1_lr_halve_every=2, stage1_log_every=1, stage1_steps=5)
    train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    lr = pd.read_csv(tmp_path / "stage1" / "log.csv")["lr"].tolist()
    base = cfg.stage1.lr  # the lr used *during* steps 1..5 (iterations 0..4)
    assert lr == pytest.approx([base, base, base / 2, base / 2, base / 4])


def test_reconstruction_ssim_values():
    a = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.allclose(reconstruction_ssim(a, a), torch.ones(2))
    noisy = (a + 0.5 * torch.randn_like(a)).clamp(-1, 1)
    s = reconstruction_ssim(a, noisy)
    assert (s < 0.9).all() and (s > -1).all()


def test_stage1_step_reads_short():
    """The paper's step stays a page: the step and its two halves are short functions."""
    import inspect

    for fn in (stage1.stage1_step, stage1.generator_step, stage1.discriminator_step):
        assert len(inspect.getsource(fn).splitlines()) <= 40, fn.__name__


class _BNCritic(torch.nn.Module):
    """A critic whose output depends on its batch statistics (train-mode BatchNorm)."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(3)
        self.head = torch.nn.Linear(3 * 4 * 2, 1)

    def forward(self, x):
        return self.head(self.bn(x).flatten(1))


@pytest.mark.parametrize("batching", ["separate", "joint"])
def test_generator_adversarial_logits_follow_the_critic_batching(batching):
    """orig B10: with "joint" BatchNorm, G's adversarial logits are the fake slice of one
    D(real + fake) call, as in the original graph; with "separate" they are D(fake) alone."""
    torch.manual_seed(0)
    real, fake = torch.randn(4, 3, 4, 2) + 2.0, torch.randn(4, 3, 4, 2)
    critic = _BNCritic()
    recon = torch.nn.Module()
    recon.forward = lambda *a: fake.clone().requires_grad_(True)
    nets = stage1.Stage1Nets(recon, critic, critic, batching)
    seen = []
    critic.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    amp = stage1.amp_settings(torch.device("cpu"), "off")
    opt = stage1.Update(critic, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0),
                        amp.grad_scaler(), amp)
    batch = {"image": real, "boxes": None, "box_vis": None, "heatmap": None,
             "mask": torch.ones(4, 1, 4, 2)}
    _, logs = stage1.generator_step(nets, [batch], opt, lambda_l1=0.0)
    with torch.no_grad():
        joint = critic(torch.cat([real, fake]))[4:]
        alone = critic(fake)
    want = joint if batching == "joint" else alone
    other = alone if batching == "joint" else joint
    target = torch.nn.functional.binary_cross_entropy_with_logits(want, torch.ones_like(want))
    wrong = torch.nn.functional.binary_cross_entropy_with_logits(other, torch.ones_like(other))
    assert seen[0] == (8 if batching == "joint" else 4)
    assert logs[0].item() == pytest.approx(target.item(), rel=1e-6)
    assert abs(logs[0].item() - wrong.item()) > 1e-3  # the two choices really differ here


def test_missing_test_split_trains_without_validation(tmp_path, capsys):
    root = make_fixture_dataset(tmp_path / "data")
    import shutil
    shutil.rmtree(root / "test")
    (root / "synth-annotation-test.csv").unlink()
    out = train_stage1(tiny_cfg(stage1_steps=3), root, tmp_path / "run", device="cpu",
                       progress=False)
    assert out["step"] == 3 and out["val"] is None
    assert "has no test split; training without validation" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "run" / "stage1" / "val.csv")) == 0


def test_broken_test_split_is_an_error_naming_the_file(tmp_path):
    from dpiglib.data.annotations import DatasetError

    root = make_fixture_dataset(tmp_path / "data")
    csv = root / "synth-annotation-test.csv"
    csv.write_text(csv.read_text().replace("[", "[oops ", 1))
    with pytest.raises(DatasetError, match="synth-annotation-test.csv"):
        train_stage1(tiny_cfg(stage1_steps=3), root, tmp_path / "run", device="cpu",
                     progress=False)
    with pytest.raises(DatasetError, match="synth-annotation-test.csv"):
        train_stage1(tiny_cfg(stage1_steps=3), root, tmp_path / "pose", device="cpu",
                     model="pose", progress=False)


def test_validation_ssim_is_fp32_under_bf16_autocast():
    """SSIM's variance terms cancel catastrophically in bf16: the monitor must ignore autocast."""
    torch.manual_seed(0)
    a = torch.rand(4, 3, 64, 32) * 2 - 1
    b = (a + 0.1 * torch.randn_like(a)).clamp(-1, 1)
    want = reconstruction_ssim(a, b)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        got = reconstruction_ssim(a, b)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)
