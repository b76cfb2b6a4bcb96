"""Shared pytest fixtures.

``trained_tiny_run``: one briefly trained synth-tiny run (SynthPerson data, Stage-I image model,
pose auto-encoder and Stage-II for every factor) built once per session in a temp folder. Tiny
widths keep it to well under a minute on a 2-core CPU; it has learned a little (enough for the
inversion and sampling tests), not enough for quality claims.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

#: Overrides of the synth-tiny preset for the session-wide trained run (flat parameter names).
TRAINED_TINY = dict(
    synth_identities=12, synth_test_identities=3, synth_images_per_identity=4,
    model_width=8, model_disc_width=8, model_pose_hidden=32, model_pose_blocks=1,
    model_mapping_width_fg=32, model_mapping_width_bg=32, model_mapping_width_pose=32,
    model_mapping_blocks=1, model_critic_width=32, model_critic_hidden_layers=1,
    stage1_steps=40, stage1_batch_size=8, stage1_log_every=10, stage1_checkpoint_every=40,
    stage1_sample_every=40, stage1_val_every=40, stage1_val_images=4, stage1_keep_last=0,
    stage1_amp="off",  # fp32 on every CPU, so numbers do not depend on native bf16
    stage1_pose_ae_steps=60, stage1_pose_ae_batch_size=16,
    stage2_steps=40, stage2_pose_steps=40, stage2_batch_size=16, stage2_pose_batch_size=16,
    stage2_critic_steps=2, stage2_log_every=10, stage2_checkpoint_every=40, stage2_keep_last=0,
)


def build_trained_tiny_run(run_dir: Path, **overrides) -> SimpleNamespace:
    """Generate SynthPerson into ``run_dir/data`` and train every model of a tiny run there.

    Returns:
        namespace with ``run_dir``, ``data_root`` and ``cfg``.
    """
    import torch

    from dpiglib.config import get_preset, write_run_config
    from dpiglib.training.stage1 import train_stage1
    from dpiglib.training.stage2 import train_stage2
    from dpiglib.synth.dataset import generate_synthperson

    torch.set_num_threads(1)
    cfg = get_preset("synth-tiny", **{**TRAINED_TINY, **overrides})
    write_run_config(cfg, run_dir)
    data = run_dir / "data"
    generate_synthperson(data, cfg.synth.identities, cfg.synth.images_per_identity,
                         cfg.synth.test_identities, size=cfg.data.image_size, seed=cfg.seed,
                         progress=False)
    for model in ("image", "pose"):
        train_stage1(cfg, data, run_dir, device="cpu", model=model, progress=False)
    train_stage2(cfg, data, run_dir, device="cpu", progress=False)
    return SimpleNamespace(run_dir=run_dir, data_root=data, cfg=cfg)


@pytest.fixture(scope="session")
def trained_tiny_run(tmp_path_factory) -> SimpleNamespace:
    """A synth-tiny run with Stage-I, pose AE and Stage-II trained briefly (see module doc)."""
    return build_trained_tiny_run(tmp_path_factory.mktemp("trained_tiny_run"))


@pytest.fixture(scope="session")
def tiny_pipeline_run(tmp_path_factory) -> SimpleNamespace:
    """The README's main job, run once per session: ``dpig run --preset synth-tiny``.

    Runs the real command in a subprocess (as a user types it) into a temp run directory and
    returns ``run_dir``, the completed process and its wall time. Tests that need a fully
    executed pipeline share this one run instead of executing notebooks again.
    """
    import os
    import subprocess
    import sys
    import time

    run_dir = tmp_path_factory.mktemp("tiny_pipeline") / "run"
    # amp off: the pose-follows threshold test pins fp32 numbers, which hold on every CPU
    cmd = [sys.executable, "-m", "dpiglib", "run", "--preset", "synth-tiny", "--out", str(run_dir),
           "--device", "cpu", "-p", "stage1_amp", "off"]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return SimpleNamespace(run_dir=run_dir, proc=proc, seconds=time.time() - t0, cmd=cmd)


@pytest.fixture(scope="session")
def sampler(trained_tiny_run):
    """The trained tiny run as a Sampler (explorer and figure tests)."""
    from dpiglib.sampling.sampler import Sampler

    return Sampler.from_run_dir(trained_tiny_run.run_dir, device="cpu")


@pytest.fixture(scope="session")
def dataset(trained_tiny_run, sampler):
    """The trained tiny run's held-out (test) images."""
    from dpiglib.data.datasets import PersonDataset

    return PersonDataset(trained_tiny_run.data_root, "test", sampler.cfg.data, flip=False)
