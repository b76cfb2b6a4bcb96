"""The CUDA-graph fast path of the Stage-I step (``stage1_compile="graphs"``), checked on a CPU:
the static-buffer wrapper run uncaptured against the eager step, the fallback where CUDA is
absent, and the config choice. (The capture itself needs a GPU: ``docs/gpu_run/``.)"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from dpiglib.config import ConfigError, config_from_dict, config_to_dict, get_preset
from dpiglib.core.runtime import amp_settings, seed_everything
from dpiglib.data.datasets import PersonDataset, prepare_batch
from dpiglib.models.stage1 import Reconstructor, Stage1Model
from dpiglib.training import graphs
from dpiglib.training.graphs import StaticStep, make_capturable, resolve_stage1_compile
from dpiglib.training.stage1 import (Stage1Nets, Update, _adam_and_schedule, stage1_step,
                                     train_stage1)

sys.path.insert(0, str(Path(__file__).parent))
from test_stage1 import make_fixture_dataset, tiny_cfg  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    torch.set_num_threads(1)
    return make_fixture_dataset(tmp_path_factory.mktemp("data"))


def _setup(cfg, cache=True):
    """Model, optimisers and the step's Update objects, as the trainer builds them."""
    seed_everything(cfg.seed)
    model = Stage1Model(cfg.model)
    rec = Reconstructor(model)
    opt_g, sched_g = _adam_and_schedule(rec.parameters(), cfg.stage1.lr, cfg.stage1)
    opt_d, sched_d = _adam_and_schedule(model.discriminator.parameters(), cfg.stage1.lr,
                                        cfg.stage1)
    amp = replace(amp_settings(CPU, cfg.stage1.amp), cache=cache)
    nets = Stage1Nets(rec, model.discriminator, model.discriminator, cfg.model.disc_batching)
    ug = Update(rec, opt_g, amp.grad_scaler(), amp)
    ud = Update(model.discriminator, opt_d, amp.grad_scaler(), amp)
    return model, nets, ug, ud, (sched_g, sched_d), (opt_g, opt_d)


def _batches(cfg, root, n):
    ds = PersonDataset(root, "train", cfg.data, flip=False)
    coll = torch.utils.data.default_collate
    return [prepare_batch(coll([ds[(4 * i + k) % len(ds)] for k in range(4)]), cfg.data, CPU)
            for i in range(n)]


def test_static_step_uncaptured_matches_the_eager_step(data_root):
    """Same losses and weights, step for step, through a learning-rate change; each call's new
    batch reaches the step through the static buffers (a stale buffer would change the
    losses), and the outputs are fresh each step."""
    cfg = tiny_cfg(stage1_lr_halve_every=3)
    data = _batches(cfg, data_root, 6)
    model_e, nets_e, ug_e, ud_e, scheds_e, _ = _setup(cfg)
    eager = []
    for b in data:
        out = stage1_step(nets_e, [b], ug_e, ud_e, cfg.stage1.lambda_l1)
        eager.append(torch.cat([out["d_loss"][None], out["g"]]))
        for s in scheds_e:
            s.step()
    model_s, nets_s, ug_s, ud_s, scheds_s, opts = _setup(cfg, cache=False)
    step = StaticStep(lambda bs: stage1_step(nets_s, bs, ug_s, ud_s, cfg.stage1.lambda_l1),
                      opts, capture=False)
    fast = []
    for b in data:
        out = step([b])
        fast.append(torch.cat([out["d_loss"][None], out["g"]]))
        for s in scheds_s:
            s.step()
    assert opts[0].param_groups[0]["lr"] == cfg.stage1.lr / 4  # the schedule did change
    assert torch.equal(torch.stack(eager), torch.stack(fast))
    assert len({tuple(t.tolist()) for t in fast}) == len(data)  # every step saw its own batch
    for (k, a), b in zip(model_e.state_dict().items(), model_s.state_dict().values()):
        assert torch.equal(a, b), k
    # the buffers hold the last batch, in the same layout
    assert torch.equal(step.buffers[0]["image"], data[-1]["image"])


def test_static_step_refuses_a_new_shape(data_root):
    cfg = tiny_cfg()
    _, nets, ug, ud, _, opts = _setup(cfg)
    step = StaticStep(lambda bs: stage1_step(nets, bs, ug, ud, 1.0), opts, capture=False)
    b = _batches(cfg, data_root, 1)[0]
    step([b])
    small = {k: v[:2] if torch.is_tensor(v) else v for k, v in b.items()}
    with pytest.raises(ValueError, match="fixed batch shape"):
        step([small])
    with pytest.raises(ValueError, match="grad_accum"):
        step([b, b])


def test_capture_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs CUDA"):
        StaticStep(lambda bs: {}, [], capture=True)


@pytest.mark.parametrize("choice, device, precision, distributed, mode, why", [
    ("off", "cuda", "bf16", False, "off", ""),
    ("graphs", "cuda", "bf16", False, "graphs", ""),
    ("graphs", "cuda", "fp32", False, "graphs", ""),
    ("default", "cuda", "fp16", True, "default", ""),
    ("graphs", "cpu", "bf16", False, "off", "needs a CUDA device"),
    ("default", "mps", "fp32", False, "off", "needs a CUDA device"),
    ("graphs", "cuda", "fp16", False, "off", "bf16 or fp32"),
    ("graphs", "cuda", "bf16", True, "off", "one process"),
])
def test_resolve_stage1_compile(choice, device, precision, distributed, mode, why):
    got, note = resolve_stage1_compile(choice, torch.device(device), precision, distributed)
    assert got == mode
    assert (why in note) if why else note == ""


def test_resolve_stage1_compile_rejects_unknown_choice():
    with pytest.raises(ValueError, match="off, default, graphs"):
        resolve_stage1_compile("fast", CPU, "bf16", False)


def test_make_capturable_sets_the_flag_and_keeps_the_counters():
    p = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    make_capturable(opt)
    assert opt.param_groups[0]["capturable"] is True
    assert opt.state[p]["step"].device == p.device and float(opt.state[p]["step"]) == 1.0


def test_the_config_choice():
    assert get_preset("market").stage1.compile == "off"  # default until measured on a GPU
    assert get_preset("synth-tiny", stage1_compile="graphs").stage1.compile == "graphs"
    with pytest.raises(ConfigError, match="must be one of off, default, graphs"):
        get_preset("synth-tiny", stage1_compile="fast")
    assert graphs.COMPILE_CHOICES == ("off", "default", "graphs")
    # configs and checkpoints written when the field was a bool still load
    d = config_to_dict(get_preset("synth-tiny"))
    for old, new in ((True, "default"), (False, "off")):
        d["stage1"]["compile"] = old
        assert config_from_dict(d).stage1.compile == new


def test_trainer_falls_back_to_the_eager_step_without_cuda(data_root, tmp_path, capsys):
    """On a CPU "graphs" trains exactly as "off", says so in one line and records it."""
    runs = {}
    for choice in ("off", "graphs"):
        out = tmp_path / choice
        train_stage1(tiny_cfg(stage1_compile=choice), data_root, out, device="cpu",
                     progress=False)
        runs[choice] = pd.read_csv(out / "stage1" / "log.csv")
        resolved = json.loads((out / "config.json").read_text())["resolved"]
        assert resolved["stage1_compile"] == "off"
    err = capsys.readouterr().err
    assert err.count("stage1_compile='graphs' needs a CUDA device") == 1
    cols = ["d_loss", "g_adv", "g_l1", "g_total", "masked_l1"]
    pd.testing.assert_frame_equal(runs["off"][cols], runs["graphs"][cols], check_exact=True)
