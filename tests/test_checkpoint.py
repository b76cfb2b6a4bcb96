"""Checkpoint atomicity and compatibility, RNG capture, CSV log resume, NaN guard, image grid."""

from __future__ import annotations

import errno
import os
import random

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from dpiglib.core import checkpoint as ckpt_mod
from dpiglib.core import runtime
from dpiglib.core.checkpoint import (CheckpointError, CheckpointManager, checkpoint_header,
                                     load_checkpoint, save_checkpoint, weights_fingerprint)
from dpiglib.config import get_preset
from dpiglib.core.runlog import (CSVLogger, NonFiniteLossError, check_finite, image_grid,
                                 save_image_grid)
from dpiglib.core.runtime import (amp_settings, capture_rng_state, epoch_permutation,
                                  resolve_device, restore_rng_state)


def _full_state(cfg, step=5):
    """A training-like state: model, optimiser, scheduler, RNG states."""
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.StepLR(opt, 10, 0.5)
    net(torch.randn(8, 4)).sum().backward()
    opt.step()
    sched.step()
    return {**checkpoint_header("stage1", cfg, step), "model": net.state_dict(),
            "opt": opt.state_dict(), "sched": sched.state_dict(), "rng": capture_rng_state()}


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def cfg():
    return get_preset("synth-tiny")


def test_roundtrip_weights_only_full_state(tmp_path, cfg):
    state = _full_state(cfg)
    p = save_checkpoint(tmp_path / "a.pt", state)
    # a plain weights_only load must succeed: no numpy objects or classes inside
    raw = torch.load(p, weights_only=True)
    assert raw["kind"] == "stage1" and raw["step"] == 5 and raw["preset"] == "synth-tiny"
    back = load_checkpoint(p, expected_kind="stage1", expected_config=cfg)
    for k, v in state["model"].items():
        assert torch.equal(back["model"][k], v)
    assert back["opt"]["param_groups"][0]["betas"] == (0.5, 0.999)
    assert back["sched"]["last_epoch"] == 1
    assert back["config"]["model"]["width"] == cfg.model.width
    assert "torch" in back["versions"]
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.parametrize("code,cause", [(errno.ENOSPC, "disk full"),
                                        (errno.EROFS, "read-only file system")])
def test_failed_write_keeps_previous_checkpoint(tmp_path, cfg, code, cause):
    p = tmp_path / "latest.pt"
    save_checkpoint(p, _full_state(cfg, step=1))
    before = _read(p)

    def failing_writer(f, data):
        f.write(data[: len(data) // 2])  # half the bytes reach the temp file, then the OS fails
        raise OSError(code, os.strerror(code))

    with pytest.raises(CheckpointError) as info:
        save_checkpoint(p, _full_state(cfg, step=2), writer=failing_writer)
    msg = str(info.value)
    assert cause in msg and str(p) in msg
    assert _read(p) == before  # byte-identical previous file
    assert load_checkpoint(p)["step"] == 1
    assert os.listdir(tmp_path) == ["latest.pt"]  # temp file cleaned up


def test_patched_module_writer_is_used(tmp_path, cfg, monkeypatch):
    def enospc(f, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_mod, "_write_bytes", enospc)
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(tmp_path / "x.pt", {"kind": "stage1"})
    assert not os.listdir(tmp_path)


def test_truncated_file_clear_error(tmp_path, cfg):
    p = tmp_path / "c.pt"
    save_checkpoint(p, _full_state(cfg))
    data = _read(p)
    with open(p, "wb") as f:
        f.write(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match=r"c\.pt is truncated or corrupt"):
        load_checkpoint(p)
    with open(p, "wb") as f:
        f.write(b"garbage" * 10)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(p)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_wrong_preset_names_differing_field(tmp_path, cfg):
    p = save_checkpoint(tmp_path / "m.pt", checkpoint_header("stage1", get_preset("market"), 3))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(p, expected_config=cfg)
    msg = str(info.value)
    assert f"model.width: checkpoint 128, config {cfg.model.width}" in msg
    assert "model.image_height: checkpoint 128, config 64" in msg
    assert "preset 'market' vs 'synth-tiny'" in msg
    # a non-architecture difference (steps, lr) is fine
    load_checkpoint(p, expected_config=get_preset("market", stage1_steps=7, stage1_lr=1.0))


def test_wrong_kind(tmp_path, cfg):
    p = save_checkpoint(tmp_path / "p.pt", checkpoint_header("pose", cfg, 3))
    with pytest.raises(CheckpointError, match="'pose' checkpoint; expected 'stage1'"):
        load_checkpoint(p, expected_kind="stage1")


def test_manager_retention_and_corrupt_latest(tmp_path, cfg):
    mgr = CheckpointManager(tmp_path / "ck", keep_last=2)
    assert mgr.load_newest() is None
    for s in (100, 200, 300):
        mgr.save(checkpoint_header("stage1", cfg, s), s)
    assert [s for s, _ in mgr.numbered()] == [200, 300]
    assert sorted(os.listdir(tmp_path / "ck")) == ["latest.pt", "step_0000200.pt",
                                                   "step_0000300.pt"]
    ck, path = mgr.load_newest(expected_kind="stage1")
    assert ck["step"] == 300 and path == mgr.latest()
    with open(mgr.latest(), "wb") as f:
        f.write(b"\x00" * 50)
    with pytest.warns(UserWarning, match="skipping unreadable"):
        ck, path = mgr.load_newest()
    assert ck["step"] == 300 and path.endswith("step_0000300.pt")


def test_weights_fingerprint():
    a = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(()), "n": torch.tensor(3)}
    fa = weights_fingerprint(a)
    assert fa == weights_fingerprint({k: v.clone() for k, v in a.items()})
    b = dict(a, w=a["w"].clone())
    b["w"][1, 2] += 1e-6
    assert weights_fingerprint(b) != fa
    assert len(fa) == 64


def test_rng_roundtrip_through_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's legacy state
    save_checkpoint(tmp_path / "r.pt", {"kind": "x", "rng": capture_rng_state()})
    want = (random.random(), np.random.standard_normal(3), torch.rand(3))
    restore_rng_state(torch.load(tmp_path / "r.pt", weights_only=True)["rng"])
    got = (random.random(), np.random.standard_normal(3), torch.rand(3))
    assert want[0] == got[0]
    assert np.array_equal(want[1], got[1])
    assert torch.equal(want[2], got[2])


def test_runtime_helpers():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    cpu = torch.device("cpu")
    assert not amp_settings(cpu, "off").enabled
    assert amp_settings(cpu, "bf16").dtype == torch.bfloat16
    # auto: bf16 exactly where the CPU has native bf16, fp32 elsewhere
    assert amp_settings(cpu, "auto").enabled == runtime.cpu_has_native_bf16()
    with pytest.raises(ValueError, match="fp16"):
        amp_settings(cpu, "fp16")
    p = epoch_permutation(10, seed=0, epoch=1)
    assert sorted(p.tolist()) == list(range(10))
    assert torch.equal(p, epoch_permutation(10, 0, 1))
    assert not torch.equal(p, epoch_permutation(10, 0, 2))


def test_csv_logger_resume_truncates(tmp_path):
    p = tmp_path / "log.csv"
    with CSVLogger(p, ["step", "loss"]) as log:
        for s in (20, 40, 60, 80):
            log.log({"step": s, "loss": s / 10})
    # the run crashed after logging step 80 but its last checkpoint is step 50
    with CSVLogger(p, ["step", "loss"], resume_step=50) as log:
        log.log({"step": 60, "loss": 0.5})
    df = pd.read_csv(p)
    assert df["step"].tolist() == [20, 40, 60]
    assert df["loss"].tolist() == [2.0, 4.0, 0.5]
    with pytest.raises(ValueError, match="header"):
        CSVLogger(p, ["step", "other"], resume_step=50)
    with CSVLogger(p, ["step", "loss"]) as log:  # fresh run overwrites
        with pytest.raises(ValueError, match="unknown column"):
            log.log({"step": 1, "bogus": 2})
    assert len(pd.read_csv(p)) == 0


def test_check_finite():
    check_finite({"a": 1.0, "b": torch.tensor(2.0)}, step=3)
    with pytest.raises(NonFiniteLossError, match=r"'g_l1' became nan at or before step 40"):
        check_finite({"d_loss": 0.1, "g_l1": torch.tensor(float("nan"))}, step=40)
    with pytest.raises(NonFiniteLossError, match="inf"):
        check_finite({"x": float("inf")}, step=1)


def test_image_grid_layout(tmp_path):
    imgs = torch.full((3, 3, 4, 2), -1.0)
    imgs[1] = 1.0
    imgs[2, 0] = 0.0
    g = image_grid(imgs, nrow=2, padding=1)
    assert g.shape == (2 * 5 + 1, 2 * 3 + 1, 3)
    assert (g[1:5, 1:3] == 0).all()  # image 0 black
    assert (g[1:5, 4:6] == 255).all()  # image 1 white
    assert (g[6:10, 1:3, 0] == 128).all() and (g[6:10, 1:3, 1] == 0).all()  # (0+1)*127.5 → 128
    assert (g[6:10, 4:6] == 255).all()  # empty cell stays white padding
    p = save_image_grid(imgs, tmp_path / "s" / "g.png", nrow=2, padding=1)
    assert np.array_equal(np.asarray(Image.open(p)), g)


def test_batch_order_shards_and_resumes():
    from dpiglib.core.runtime import BatchOrder

    r0, r1 = (BatchOrder(10, 2, seed=5, rank=r, world_size=2) for r in (0, 1))
    assert r0.batches_per_epoch == 2  # 10 // (2 × 2); the last 2 items of each epoch dropped
    perm0, perm1 = epoch_permutation(10, 5, 0), epoch_permutation(10, 5, 1)
    assert r0.batch(0)[0].tolist() == perm0[0:2].tolist()
    assert r1.batch(0)[0].tolist() == perm0[2:4].tolist()
    assert r1.batch(1)[0].tolist() == perm0[6:8].tolist()
    assert r0.batch(2)[0].tolist() == perm1[0:2].tolist()  # position 2 starts epoch 1
    idx, flips = r0.batch(3)
    stream = r0.stream(3)  # a resumed stream yields the same batch, flips encoded as i + n
    assert next(stream) == (idx + 10 * flips.long()).tolist()
    flips_all = torch.cat([BatchOrder(10, 2, 5).batch(p)[1] for p in range(0, 200)])
    assert 0.35 < flips_all.float().mean() < 0.65
    assert not BatchOrder(10, 2, 5, flip=False).batch(0)[1].any()
    with pytest.raises(ValueError, match="fewer than one global batch"):
        BatchOrder(3, 2, 0, world_size=2)


@pytest.mark.parametrize("native", [True, False])
def test_auto_amp_on_cpu_follows_native_bf16(monkeypatch, native):
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    got = amp_settings(torch.device("cpu"), "auto")
    assert got.dtype == (torch.bfloat16 if native else None)
    assert not got.use_scaler
