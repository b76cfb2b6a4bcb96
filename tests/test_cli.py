"""The ``dpig`` command line: help, one-line validation errors, exit codes, delegation.

Pipeline behaviour itself is tested in test_pipeline.py; here the command line is driven the
way a user drives it (subprocesses for the console script and ``python -m dpiglib``; ``main()``
in-process where a fake library function records what it was called with).
"""
from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from fixtures import write_notebook

from dpiglib.cli import main

DPIG = Path(sys.executable).parent / "dpig"


@pytest.fixture
def nbdir(tmp_path: Path) -> Path:
    d = tmp_path / "nbs"
    d.mkdir()
    write_notebook(d / "01_only.ipynb", 'run_dir = ""\nseed = 0\nbad_seed = -1',
              ["import pathlib, sys",
               "if seed == bad_seed:\n    raise ValueError(f'seed {seed} is bad')",
               "pathlib.Path(run_dir, 'out.txt').write_text(sys.executable)"])
    return d


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_of_module_and_console_script():
    mod = _run(sys.executable, "-m", "dpiglib", "--help")
    assert mod.returncode == 0
    for cmd in ("run", "sweep", "train", "evaluate", "transfer"):
        assert cmd in mod.stdout
    assert DPIG.exists(), "the dpig console script is not installed (pip install -e .)"
    run = _run(str(DPIG), "run", "--help")
    assert run.returncode == 0 and "--preset" in run.stdout and "-p NAME VALUE" in run.stdout


@pytest.mark.parametrize("argv", [["sweep", "--help"], ["train", "stage1", "--help"],
                                  ["train", "stage2", "--help"], ["evaluate", "--help"],
                                  ["transfer", "--help"]])
def test_every_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0 and "usage: dpig" in capsys.readouterr().out


def test_unknown_parameter_is_one_line_and_nothing_runs(nbdir, tmp_path):
    out = tmp_path / "run"
    res = _run(str(DPIG), "run", "--notebooks", str(nbdir), "--out", str(out),
               "-p", "stage1_stepz", "5")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpig run: error: unknown parameter")
    assert "'stage1_stepz'" in lines[0] and "stage1_steps" in lines[0] and "bad_seed" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("argv,message", [
    (["--preset", "synth-huge"], "unknown preset 'synth-huge'; valid presets: synth-tiny"),
    (["-p", "stage1_steps", "abc"], "'stage1_steps' expects int"),
    (["-p", "seed", "1.5"], "'seed' expects int"),
])
def test_invalid_run_arguments_exit_2(argv, message, nbdir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--notebooks", str(nbdir), "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_run_dry_run_and_failure_exit_code(nbdir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--notebooks", str(nbdir), "--out", str(out), "--seed", "4",
                 "--device", "cpu", "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["per_notebook"]["01_only.ipynb"] == {"run_dir": str(out.resolve()), "seed": 4}
    assert not out.exists()
    # a failing notebook: exit 1, one stderr line naming notebook and cell, report path printed
    assert main(["run", "--notebooks", str(nbdir), "--out", str(out), "--seed", "3",
                 "-p", "bad_seed", "3", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "failed in 01_only.ipynb at cell 3: ValueError: seed 3 is bad" in captured.err
    assert f"Report: {out.resolve() / 'report.md'}" in captured.out
    # --resume takes the stored parameters; overriding one of them is a clear error
    assert main(["run", "--out", str(out), "--notebooks", str(nbdir), "--resume",
                 "-p", "bad_seed", "-1", "--quiet"]) == 2
    assert "different parameters (notebook_overrides.bad_seed)" in capsys.readouterr().err
    assert main(["run", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "holds no pipeline run" in capsys.readouterr().err


def test_sweep_with_jobs_reports_the_failing_run(nbdir, tmp_path, capsys):
    out = tmp_path / "sweep"
    rc = main(["sweep", "--notebooks", str(nbdir), "--out", str(out), "-p", "seed", "1,2",
               "-p", "bad_seed", "2", "--device", "cpu", "--jobs", "2", "--quiet"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "run_001_seed-2 failed in 01_only.ipynb cell 3: ValueError: seed 2 is bad" in err
    table = pd.read_csv(out / "sweep.csv")
    assert list(table["seed"]) == [1, 2] and list(table["status"]) == ["completed", "failed"]
    # the subprocess ran the notebook with this interpreter's kernel
    assert (out / "run_000_seed-1" / "out.txt").read_text() == sys.executable


def _fake_module(monkeypatch, name: str, func_name: str | None, calls: list):
    module = types.ModuleType(name)
    if func_name:
        def fake(cfg=None, data_root=None, out_dir=None, device=None, model="image",
                 resume=True, max_steps=None, progress=True, **kw):
            calls.append(dict(cfg=cfg, data_root=data_root, out_dir=out_dir, device=device,
                              model=model, resume=resume, max_steps=max_steps, **kw))
            return {"step": max_steps, "seconds": 0.1}
        setattr(module, func_name, fake)
    monkeypatch.setitem(sys.modules, name, module)


def test_train_stage1_validates_then_delegates(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    calls: list = []
    _fake_module(monkeypatch, "dpiglib.training.stage1", "train_stage1", calls)
    # no prepared data yet: refused before any work
    assert main(["train", "stage1", "--out", str(out), "--device", "cpu"]) == 2
    assert "holds no *-annotation-train.csv" in capsys.readouterr().err
    data = out / "data"
    data.mkdir(parents=True)
    (data / "synth-annotation-train.csv").write_text("name:keypoints_y:keypoints_x\n")
    assert main(["train", "stage1", "--out", str(out), "--device", "cpu",
                 "-p", "stage1_steps", "7", "--max-steps", "3"]) == 0
    assert [c["model"] for c in calls] == ["image", "pose"]  # --model both by default
    first = calls[0]
    assert first["cfg"].preset == "synth-tiny" and first["cfg"].stage1.steps == 7
    assert first["data_root"] == str(data) and first["out_dir"] == str(out)
    assert first["device"] == "cpu" and first["resume"] is True and first["max_steps"] == 3
    assert json.loads((out / "config.json").read_text())["config"]["stage1"]["steps"] == 7
    assert main(["train", "stage1", "--out", str(out), "--device", "cpu", "--model", "pose",
                 "--restart"]) == 0
    assert calls[-1]["model"] == "pose" and calls[-1]["resume"] is False
    assert calls[-1]["cfg"].stage1.steps == 7  # the run's stored config is the base
    assert main(["train", "stage1", "--out", str(out), "--preset", "synth"]) == 2
    assert "written for preset 'synth-tiny'" in capsys.readouterr().err
    assert main(["train", "stage1", "--out", str(out), "--preset", "nope"]) == 2


def test_missing_library_functions_are_a_clear_error(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    (run / "stage1").mkdir(parents=True)
    _fake_module(monkeypatch, "dpiglib.metrics.evaluation", None, [])
    assert main(["evaluate", "--run", str(run), "--device", "cpu"]) == 2
    assert "dpig evaluate is not available yet" in capsys.readouterr().err
    calls: list = []
    _fake_module(monkeypatch, "dpiglib.metrics.evaluation", "evaluate_run", calls)
    monkeypatch.setattr(sys.modules["dpiglib.metrics.evaluation"], "evaluate_run",
                        lambda run_dir, device, max_pairs=None, protocols=None, out_dir=None:
                        calls.append((run_dir, device, max_pairs, protocols, out_dir)) or {})
    assert main(["evaluate", "--run", str(run), "--device", "cpu", "--pairs", "8",
                 "--protocols", "dpig,clean"]) == 0
    assert calls == [(str(run), "cpu", 8, ["dpig", "clean"], str(run / "eval"))]
    # transfer needs a trained run
    assert main(["transfer", "--run", str(tmp_path), "--source", "a.png", "--target", "b.png",
                 "--out", str(tmp_path / "o.png")]) == 2
    assert "holds no trained model" in capsys.readouterr().err


def test_sigterm_interrupts_and_the_same_command_resumes(tmp_path):
    import time

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    write_notebook(nbs / "01_fast.ipynb", 'run_dir = ""', [
        "import pathlib",
        "with open(pathlib.Path(run_dir, 'n01.txt'), 'a') as f:\n    f.write('x')"])
    # 02 waits while the hold file exists (at most 60 s): a long cell to interrupt
    write_notebook(nbs / "02_slow.ipynb", 'run_dir = ""\nhold = ""', [
        "import time, pathlib",
        "t = time.time()\nwhile pathlib.Path(hold).exists() and time.time() - t < 60:\n"
        "    time.sleep(0.1)",
        "pathlib.Path(run_dir, 'n02.txt').write_text('done')"])
    hold = tmp_path / "hold"
    hold.write_text("")
    out = tmp_path / "run"
    argv = ["run", "--notebooks", str(nbs), "--out", str(out), "--device", "cpu",
            "-p", "hold", str(hold), "--quiet"]
    proc = subprocess.Popen([str(DPIG), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    state_file = out / "pipeline_state.json"
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until notebook 02 runs
        state = json.loads(state_file.read_text()) if state_file.is_file() else {}
        if state.get("notebooks", {}).get("02_slow.ipynb", {}).get("status") == "running":
            break
        time.sleep(0.2)
    time.sleep(1.0)
    proc.terminate()  # SIGTERM, as `kill PID` sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "rerun the same command to resume" in err
    state = json.loads(state_file.read_text())
    assert state["status"] == "interrupted"
    assert state["notebooks"]["02_slow.ipynb"]["status"] == "interrupted"
    assert not (out / "n02.txt").exists()
    hold.unlink()
    assert main(argv) == 0  # the same command resumes at 02
    assert (out / "n01.txt").read_text() == "x" and (out / "n02.txt").read_text() == "done"


@pytest.mark.slow
def test_transfer_renders_a_grid_from_a_trained_run(tmp_path, capsys):
    from PIL import Image

    from dpiglib.config import get_preset, write_run_config
    from dpiglib.training.stage1 import train_stage1
    from dpiglib.synth.dataset import generate_synthperson

    run = tmp_path / "run"
    cfg = get_preset("synth-tiny", model_width=8, stage1_steps=1, stage1_batch_size=4,
                     stage1_val_images=4, stage1_sample_every=1, stage1_checkpoint_every=1,
                     stage1_log_every=1, stage1_val_every=1)
    write_run_config(cfg, run)
    generate_synthperson(run / "data", identities=3, images_per_identity=2, test_identities=2,
                         size=cfg.data.image_size, seed=0, progress=False)
    train_stage1(cfg, run / "data", run, "cpu", model="image", max_steps=1, progress=False)
    names = [line.split(":")[0] for line in
             (run / "data" / "synth-annotation-test.csv").read_text().splitlines()[1:3]]
    out = tmp_path / "t.png"
    assert main(["transfer", "--run", str(run), "--source", names[0], "--target", names[1],
                 "--out", str(out), "--device", "cpu"]) == 0
    h, w = cfg.data.image_size
    grid = Image.open(out)
    assert grid.size == (3 * w + 4 * 2, h + 2 * 2)  # 3 images, 2-px padding (runlog.image_grid)
    assert main(["transfer", "--run", str(run), "--source", "nope.png", "--target", names[1],
                 "--out", str(out)]) == 2
    assert "'nope.png' is not an annotated test image" in capsys.readouterr().err


def test_evaluate_help_states_the_generated_file_names(capsys):
    from dpiglib.metrics.io import GENERATED_NAME_PATTERN

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert GENERATED_NAME_PATTERN in shown and "a.jpg___b.jpg.png" in shown
