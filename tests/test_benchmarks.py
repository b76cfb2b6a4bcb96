"""Smoke and correctness tests of the benchmark scripts (issue 7, "Performance").

Each script runs with ``--quick`` in a subprocess (as CI and ``run_all.py`` call it) and its JSON
is checked for the keys ``docs/performance.md`` is built from. The FLOP counts are checked
against a hand computation (Stage-II, FC layers only) and against a count on a real device
(Stage-I: the ``meta``-device count must equal the CPU count).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_stage1  # noqa: E402
import bench_stage2  # noqa: E402
import run_all  # noqa: E402
from dpiglib.config import get_preset  # noqa: E402


def _run_quick(name: str, tmp_path: Path, *extra: str, timeout: float = 240) -> dict:
    out = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, str(BENCH / f"bench_{name}.py"), "--quick",
                           "--out", str(out), *extra], capture_output=True, text=True,
                          timeout=timeout, cwd=BENCH.parent)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def _check_environment(env: dict) -> None:
    assert env["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert env["device"]["device"] == "cpu"
    assert env["cpu_count"] >= 1 and env["torch_threads"] >= 1
    assert "--quick" in env["command"]


def test_bench_stage1_quick(tmp_path):
    data = _run_quick("stage1", tmp_path)
    _check_environment(data["environment"])
    (row,) = data["results"]
    assert row["status"] == "ok" and row["preset"] == "synth-tiny" and row["batch"] == 2
    assert row["images_per_s"] > 0 and row["steps_per_s"] > 0
    assert row["images_per_s"] == pytest.approx(2 * row["steps_per_s"])
    assert row["memory_kind"] == "cpu_peak_rss_delta" and row["peak_memory_mib"] >= 0
    (f,) = data["flops"]
    assert f["train_step_flops"] == pytest.approx(f["g_update_flops"] + f["d_update_flops"])
    assert f["train_flops_per_image"] == pytest.approx(f["train_step_flops"] / 2)
    # G update = G fwd + D fwd + backward through both: more than 2× the G forward alone
    assert f["g_update_flops"] > 2 * 2 * f["reconstruct_forward_flops_per_image"]
    assert row["achieved_tflop_per_s"] == pytest.approx(
        f["train_step_flops"] / row["s_per_step"] / 1e12)


def test_bench_stage1_fast_path_quick(tmp_path):
    """--fast-path compares the eager step with the CUDA-graph path in one run; on a CPU the
    fast path runs uncaptured on its static buffers, so the losses agree exactly."""
    data = _run_quick("stage1", tmp_path, "--fast-path", "--threads", "1")
    _check_environment(data["environment"])
    r = data["result"]
    assert r["captured"] is False and r["graph_captures"] == 0
    assert r["preset"] == "synth-tiny" and r["warmup"] + r["steps"] == 5
    assert r["max_abs_delta_loss"] == 0.0
    assert r["eager_repeat_max_abs_delta_loss"] == 0.0 and r["first_step_abs_delta_loss_per_column"] == [0.0] * 5
    assert r["speedup"] == pytest.approx(r["graphs"]["steps_per_s"] / r["eager"]["steps_per_s"])
    for v in ("eager", "graphs"):
        assert r[v]["steps_per_s"] > 0 and r[v]["achieved_tflop_per_s"] == pytest.approx(
            data["flops"]["train_step_flops"] * r[v]["steps_per_s"] / 1e12)


def test_stage1_meta_count_matches_cpu_and_is_linear_in_batch():
    from torch.utils.flop_counter import FlopCounterMode

    cfg = get_preset("synth-tiny")
    meta = bench_stage1.count_flops(cfg, 2)
    assert bench_stage1.count_flops(cfg, 4)["train_step_flops"] == 2 * meta["train_step_flops"]
    torch.set_num_threads(1)
    step = bench_stage1.TrainStep(cfg, 2, torch.device("cpu"))
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        step.generate(step.rec)
    assert fc.get_total_flops() == meta["reconstruct_forward_flops_per_image"] * 2
    assert meta["parameters"]["generator"] == sum(p.numel() for p in step.model.generator.parameters())


def test_predict_max_batch_from_the_h100_points():
    """The DF bf16 tries of the H100 lease (6 -> 5,902 MiB, 12 -> 9,649 MiB) on 80 GB predict
    ~123; fewer than two growing points give no prediction."""
    pts = [(6, 5902.0), (12, 9649.0)]
    guess = bench_stage1.predict_max_batch(pts, 81559.0)
    slope = (9649 - 5902) / 6
    assert guess == int((0.97 * 81559 - (9649 - 12 * slope)) / slope) and 115 <= guess <= 130
    assert bench_stage1.predict_max_batch(pts[:1], 81559.0) is None
    assert bench_stage1.predict_max_batch([(6, 100.0), (12, 100.0)], 81559.0) is None


def test_max_batch_search_finds_the_limit_in_few_tries(monkeypatch):
    """A fake device (300 MiB per image + 2,000 MiB, 40,000 MiB usable): the search must end
    within its precision below the true limit (126) without doubling into many OOM tries."""
    calls = []

    def fake_child(spec, args, timeout):
        b = spec["batch"]
        calls.append(b)
        peak = 2000.0 + 300.0 * b
        return ({"status": "ok", "batch": b, "peak_memory_mib": peak, "images_per_s": 1.0}
                if peak <= 40000 else {"status": "oom", "batch": b})

    monkeypatch.setattr(bench_stage1, "_child", fake_child)
    args = type("A", (), {"max_batch_precision": 8})()
    r = bench_stage1.max_batch("deepfashion", "bf16", args, 6, 10.0, memory_mib=40000 / 0.97)
    assert r["max_batch"] is not None and 126 - 126 // 8 <= r["max_batch"] <= 126
    assert len(calls) <= 6, calls
    assert all(t["status"] in ("ok", "oom") for t in r["tries"])


def test_market_flops_near_issue_estimate():
    f = bench_stage1.count_flops(get_preset("market"), 16)
    # the issue says "about 7 TFLOP per training step at batch 16"
    assert 5e12 < f["train_step_flops"] < 9e12


def _linear(n_in, n_out):
    return 2 * n_in * n_out  # multiply-add = 2 FLOPs per weight per sample


def test_stage2_pose_flops_by_hand():
    """wgan-clip pose factor of synth-tiny: Φ (32→256, 4 blocks × 2 FC 256², 256→32), critic
    (32→256, 3 × 256², 256→1), B = 64, 5 critic steps, one Φ update."""
    cfg = get_preset("synth-tiny", stage2_objective="wgan-clip")
    d, h, w, b = 32, cfg.model.mapping_width_pose, cfg.model.critic_width, 64
    assert (h, w, cfg.stage2.pose_batch_size) == (256, 256, b)
    phi_layers = [(d, h)] + [(h, h)] * 8 + [(h, d)]
    critic_layers = [(d, w)] + [(w, w)] * 3 + [(w, 1)]
    fwd = lambda layers: sum(_linear(*l) for l in layers)  # noqa: E731
    # critic step: Φ fwd (no grad); critic fwd on real and fake; backward: weight grads on both
    # batches, input grads for every layer but the first (neither input needs a gradient)
    critic_step = b * fwd(phi_layers) + 2 * b * (
        fwd(critic_layers) + fwd(critic_layers) + fwd(critic_layers[1:]))
    # Φ update: Φ fwd + critic fwd; backward: critic input grads (all layers), Φ weight grads
    # (all) and input grads (all but the first: z needs none)
    phi_step = b * (fwd(phi_layers) + fwd(critic_layers) + fwd(critic_layers)
                    + fwd(phi_layers) + fwd(phi_layers[1:]))
    counted = bench_stage2.count_flops(cfg, "bank")
    assert counted["pose"] == phi_step + 5 * critic_step


def test_bench_stage2_quick(tmp_path):
    data = _run_quick("stage2", tmp_path)
    _check_environment(data["environment"])
    rows = {(r["mode"], r["kind"]): r for r in data["results"]}
    assert set(rows) == {(m, k) for m in ("bank", "encoder")
                         for k in ("appearance", "pose", "all")}
    for r in rows.values():
        assert r["steps_per_s"] > 0 and r["flops_per_step"] > 0
        assert r["factors"] in ("fg+bg", "pose", "fg+bg+pose")
    # re-encoding every critic batch costs far more than reading the cached table
    assert rows[("encoder", "appearance")]["flops_per_step"] > \
        10 * rows[("bank", "appearance")]["flops_per_step"]
    assert rows[("bank", "all")]["flops_per_step"] == (
        rows[("bank", "appearance")]["flops_per_step"] + rows[("bank", "pose")]["flops_per_step"])


def test_bench_data_quick(tmp_path):
    data = _run_quick("data", tmp_path)
    _check_environment(data["environment"])
    rows = data["results"]
    assert {(r["format"], r["dataset_class"]) for r in rows} == {
        ("PNG (SynthPerson)", "PersonDataset"), ("PNG (SynthPerson)", "PairDataset"),
        ("JPEG (Market format)", "PersonDataset"), ("JPEG (Market format)", "PairDataset")}
    for r in rows:
        assert r["items_per_s"] > 0
        per = 2 if r["dataset_class"] == "PairDataset" else 1
        assert r["images_per_s"] == pytest.approx(per * r["items_per_s"])
    assert data["required_ratio"] == 3.0


def test_bench_synth_quick(tmp_path):
    if not (BENCH / "bench_synth.py").is_file():
        pytest.skip("benchmarks/bench_synth.py not present")
    data = _run_quick("synth", tmp_path)
    assert all(r["render_png_per_s"] > 0 for r in data["results"])


def test_bench_sampling_quick(tmp_path):
    if not (BENCH / "bench_sampling.py").is_file():
        pytest.skip("benchmarks/bench_sampling.py not present")
    _run_quick("sampling", tmp_path)


def test_bench_sampling_writes_each_kind_of_model_to_its_own_file():
    """Timing the shipped model must not overwrite the fresh-weights result (it once did)."""
    import argparse

    import bench_sampling

    def path(**kw):
        args = argparse.Namespace(**{**dict(out=None, quick=False, pretrained=None,
                                            pretrained_dir=None), **kw})
        got = bench_sampling.result_path(args)
        return None if got is None else Path(got).name

    assert path() == "sampling.json"
    assert path(pretrained="synth-tiny") == "sampling_pretrained.json"
    assert path(pretrained="synth-tiny", pretrained_dir="export") is None  # a candidate
    assert path(quick=True) is None
    assert path(pretrained="synth-tiny", out="x/y.json") == "y.json"


def test_bench_pipeline_reads_a_runs_timings_against_the_budgets(tmp_path):
    """``bench_pipeline --run-dir RUN --no-run``: the per-notebook table, budgets and exit code
    from a run's ``pipeline_state.json``. (``--quick`` itself runs notebook 01 through papermill,
    minutes on a shared CPU; `dpig run` is tested in test_pipeline.py.)"""
    import bench_pipeline

    run = tmp_path / "run"
    run.mkdir()
    notebooks = {"01_data_preparation.ipynb": {"status": "completed", "seconds": 12.5},
                 "02_stage1_training.ipynb": {"status": "completed", "seconds": 200.0},
                 "03_stage2_training.ipynb": {"status": "failed", "seconds": 3.0},
                 "04_sampling_explorer.ipynb": {"status": "pending"}}
    state = {"status": "failed", "parameters": {"preset": "synth-tiny"}, "notebooks": notebooks}
    (run / "pipeline_state.json").write_text(json.dumps(state))

    def bench(out):
        return subprocess.run([sys.executable, str(BENCH / "bench_pipeline.py"), "--run-dir",
                               str(run), "--no-run", "--device", "cpu", "--out", str(out)],
                              capture_output=True, text=True, timeout=240, cwd=BENCH.parent)

    proc = bench(tmp_path / "failed.json")
    assert proc.returncode == 1, proc.stderr[-2000:]  # the run did not complete
    data = json.loads((tmp_path / "failed.json").read_text())
    rows = {r["notebook"]: r for r in data["notebooks"]}
    assert rows["01_data_preparation.ipynb"]["budget_s"] == bench_pipeline.BUDGETS_S["01"]
    assert rows["01_data_preparation.ipynb"]["within"] is True  # 12.5 s of 60
    assert rows["02_stage1_training.ipynb"]["within"] is False  # 200 s of 180
    assert rows["04_sampling_explorer.ipynb"]["seconds"] is None
    assert rows["04_sampling_explorer.ipynb"]["within"] is None
    total = rows["total (notebooks)"]
    assert total["seconds"] == pytest.approx(215.5) and total["within"] is True
    assert data["wall_s"] is None and "total (dpig run wall)" not in rows  # nothing was run
    assert data["status"] == "failed" and data["parameters"] == {"preset": "synth-tiny"}

    state["status"] = "completed"
    (run / "pipeline_state.json").write_text(json.dumps(state))
    assert bench(tmp_path / "ok.json").returncode == 0
    (run / "pipeline_state.json").unlink()
    proc = bench(tmp_path / "none.json")
    assert proc.returncode == 2 and "pipeline_state.json does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "none.json").exists()


def test_run_all_reports_missing_scripts(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run_all, "HERE", tmp_path)  # a folder without any bench_*.py
    assert run_all.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for name in run_all.SCRIPTS:
        assert f"bench_{name}: missing" in out


def test_run_all_commands_and_bad_names(tmp_path):
    import argparse

    args = argparse.Namespace(quick=True, out_dir=str(tmp_path), device="cpu")
    assert run_all.build_command("synth", args)[2:] == ["--quick", "--out",
                                                        str(tmp_path / "synth.json")]
    assert run_all.build_command("stage1", args)[-2:] == ["--device", "cpu"]
    with pytest.raises(SystemExit) as exc:
        run_all.main(["--only", "stage3"])
    assert exc.value.code == 2
