"""Faults: SIGKILL at random moments and mid-write, disk full / read-only checkpoint directories.

The training process is killed for real (``SIGKILL`` to a subprocess running ``train_stage1``)
several times in a row and resumed each time; the finished run must hold bit-identical weights
to an uninterrupted one (CPU, one thread) and, after every kill, every checkpoint file in the run
must load with ``torch.load(weights_only=True)``. Write errors are injected into the checkpoint
writer (``dpiglib.core.checkpoint._write_bytes``): the machines run as root, which ignores file
permissions, so a ``chmod`` would not make a directory read-only here.

The pipeline-level case (a ``dpig run`` interrupted between notebooks resumes at the next one) is
``tests/test_pipeline.py::test_interrupted_run_resumes_and_parameter_changes_need_force``.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from dpiglib.core import checkpoint as ckpt_mod
from dpiglib.core.checkpoint import CheckpointError, CheckpointManager, load_checkpoint
from dpiglib.config import get_preset
from dpiglib.training.stage1 import train_stage1

from test_stage1 import make_fixture_dataset

# 40 Stage-I steps at width 8, a checkpoint every 3 steps (and at step 40): 14 checkpoints.
OVERRIDES = dict(model_width=8, model_disc_width=8, stage1_batch_size=4, stage1_steps=40,
                 stage1_log_every=2, stage1_checkpoint_every=3, stage1_sample_every=20,
                 stage1_val_every=20, stage1_val_images=4, stage1_keep_last=2,
                 stage1_amp="off")  # fp32 on every CPU
KILLS = 6

# The child process: one training call. FAULT_SLOW_WRITE stretches each checkpoint write (64 KiB
# chunks with a short sleep) so random kills often land inside a write; FAULT_KILL_AT_WRITE=n
# kills the process itself halfway through its n-th checkpoint write (a deterministic mid-write
# crash: half the bytes are in the temp file, the rename never happens).
CHILD = r"""
import json, os, signal, sys, time
import torch
torch.set_num_threads(1)
from dpiglib.core import checkpoint
from dpiglib.config import get_preset
from dpiglib.training.stage1 import train_stage1

cfg = get_preset("synth-tiny", **json.loads(sys.argv[3]))
kill_at = int(os.environ.get("FAULT_KILL_AT_WRITE", "0"))
slow = os.environ.get("FAULT_SLOW_WRITE") == "1"
calls = [0]

def writer(f, data):
    calls[0] += 1
    view = memoryview(data)
    half = len(view) // 2
    for start in range(0, len(view), 1 << 16):
        if calls[0] == kill_at and start >= half:
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        f.write(view[start:start + (1 << 16)])
        if slow:
            time.sleep(0.001)

checkpoint._write_bytes = writer
_save = checkpoint.CheckpointManager.save

def save(self, state, step):  # tell the parent how far the run is (it times its kills on it)
    out = _save(self, state, step)
    print("SAVED", step, flush=True)
    return out

checkpoint.CheckpointManager.save = save
print("READY", flush=True)
out = train_stage1(cfg, sys.argv[1], sys.argv[2], device="cpu", progress=False)
print("DONE", out["step"], out["steps_run"], flush=True)
"""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_fixture_dataset(tmp_path_factory.mktemp("fault_data"))


def _start(script: Path, data_root: Path, run: Path, **env) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(script), str(data_root), str(run), json.dumps(OVERRIDES)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **env})
    line = proc.stdout.readline()  # imports done; training starts now
    assert line.strip() == "READY", (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def _check_every_checkpoint(run: Path, max_numbered: int = 3) -> int:
    """Each ``*.pt`` under the run loads with weights_only=True; returns the newest step."""
    ck_dir = run / "stage1" / "checkpoints"
    files = sorted(ck_dir.glob("*.pt")) if ck_dir.is_dir() else []
    for p in files:
        raw = torch.load(p, map_location="cpu", weights_only=True)  # never a partial file
        assert raw["kind"] == "stage1" and (raw["step"] % 3 == 0 or raw["step"] == 40), p
        load_checkpoint(p, expected_kind="stage1")
    # keep_last=2; a kill between writing step_N.pt and pruning leaves one more, until the next
    # save prunes it
    assert len([p for p in files if p.name.startswith("step_")]) <= max_numbered
    found = CheckpointManager(ck_dir).load_newest("stage1") if files else None
    return found[0]["step"] if found else 0


@pytest.mark.slow
def test_sigkill_loop_resumes_to_identical_weights(data_root, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ref = tmp_path / "uninterrupted"
    _finish(_start(script, data_root, ref))

    run = tmp_path / "killed"
    rng = random.Random(20180618)  # seeded kill moments
    steps_seen, orphans_seen = [], 0
    # kill 1 is deterministic: halfway through the 3rd write (step_0000006.pt; step 3 wrote 2)
    proc = _start(script, data_root, run, FAULT_KILL_AT_WRITE="3")
    proc.wait(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    orphans_seen += len(list((run / "stage1" / "checkpoints").glob(".*.tmp")))
    assert orphans_seen == 1  # the half-written temp file; latest.pt untouched by it
    steps_seen.append(_check_every_checkpoint(run))
    assert steps_seen[-1] == 3  # step_0000003.pt was complete and is used
    for _ in range(KILLS - 1):
        proc = _start(script, data_root, run, FAULT_SLOW_WRITE="1")
        # kill at a random moment after 1-2 more checkpoints: inside a step, a log write, a
        # sample/validation pass or (slowed down, ~0.1 s per file) a checkpoint write
        for _ in range(rng.randint(1, 2)):
            line = proc.stdout.readline()
            if not line.startswith("SAVED"):
                break
        time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=300)
        proc.stdout.close(), proc.stderr.close()
        orphans_seen += len(list((run / "stage1" / "checkpoints").glob(".*.tmp")))
        step = _check_every_checkpoint(run)
        assert step >= steps_seen[-1]  # progress is never lost beyond the last checkpoint
        steps_seen.append(step)
    out = _finish(_start(script, data_root, run))
    assert out.split()[-3:-1] == ["DONE", "40"]
    assert steps_seen[-1] > 3 and len(steps_seen) == KILLS
    assert _check_every_checkpoint(run, max_numbered=2) == 40

    a = load_checkpoint(ref / "stage1" / "checkpoints" / "latest.pt", "stage1")
    b = load_checkpoint(run / "stage1" / "checkpoints" / "latest.pt", "stage1")
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for key in ("opt_g", "opt_d"):  # Adam moments too: the run can continue identically
        for sa, sb in zip(a[key]["state"].values(), b[key]["state"].values()):
            assert torch.equal(sa["exp_avg"], sb["exp_avg"]) and torch.equal(
                sa["exp_avg_sq"], sb["exp_avg_sq"])
    # the loss log has each step once and the same numbers
    cols = ["step", "lr", "d_loss", "g_adv", "g_l1", "g_total", "masked_l1"]
    la = pd.read_csv(ref / "stage1" / "log.csv")[cols]
    lb = pd.read_csv(run / "stage1" / "log.csv")[cols]
    pd.testing.assert_frame_equal(la, lb)
    # temp files of killed writes are swept by the next good save
    assert not list((run / "stage1" / "checkpoints").glob(".*.tmp"))
    print(f"checkpoint step after each kill: {steps_seen}; temp files left by kills: "
          f"{orphans_seen}")


# --------------------------------------------------------------------------------------------
# Disk full / read-only file system during a training run
# --------------------------------------------------------------------------------------------


def _cfg(**kw):
    return get_preset("synth-tiny", **{**OVERRIDES, "stage1_steps": 6, "stage1_log_every": 1,
                                       "stage1_sample_every": 6, "stage1_val_every": 6, **kw})


@pytest.mark.parametrize("code,cause", [(errno.ENOSPC, "disk full"),
                                        (errno.EROFS, "read-only file system")])
def test_write_error_in_a_run_reports_and_keeps_previous(data_root, tmp_path, monkeypatch,
                                                         code, cause):
    torch.set_num_threads(1)
    cfg = _cfg()
    real = ckpt_mod._write_bytes
    calls = {"n": 0}

    def failing(f, data):  # checkpoint at step 3 (2 files) succeeds; step 6's first write fails
        calls["n"] += 1
        if calls["n"] >= 3:
            f.write(data[: len(data) // 3])
            raise OSError(code, os.strerror(code))
        real(f, data)

    monkeypatch.setattr(ckpt_mod, "_write_bytes", failing)
    ck_dir = tmp_path / "stage1" / "checkpoints"
    with pytest.raises(CheckpointError) as info:
        train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    msg = str(info.value)
    assert cause in msg and str(ck_dir / "step_0000006.pt") in msg
    assert "previous checkpoint" in msg and "unchanged" in msg
    # the previous good checkpoint survives, byte-complete, and no temp file is left behind
    assert sorted(os.listdir(ck_dir)) == ["latest.pt", "step_0000003.pt"]
    assert load_checkpoint(ck_dir / "latest.pt", "stage1", cfg)["step"] == 3

    # space is freed: the run resumes from step 3 and ends where an uninterrupted run ends
    monkeypatch.setattr(ckpt_mod, "_write_bytes", real)
    out = train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    assert out["steps_run"] == 3
    ref = train_stage1(cfg, data_root, tmp_path / "ref", device="cpu", progress=False)
    for k, v in ref["model"].state_dict().items():
        assert torch.equal(out["model"].state_dict()[k], v), k


def test_all_checkpoints_unreadable_refuses_to_restart(data_root, tmp_path):
    torch.set_num_threads(1)
    cfg = _cfg(stage1_steps=3)
    train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    ck_dir = tmp_path / "stage1" / "checkpoints"
    for p in ck_dir.glob("*.pt"):
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    before = {p.name: p.read_bytes() for p in ck_dir.glob("*.pt")}
    with pytest.warns(UserWarning, match="skipping unreadable"):
        with pytest.raises(CheckpointError, match=r"every checkpoint in .* is unreadable .*"
                                                  r"delete them to start over"):
            train_stage1(cfg, data_root, tmp_path, device="cpu", progress=False)
    assert {p.name: p.read_bytes() for p in ck_dir.glob("*.pt")} == before  # nothing overwritten
