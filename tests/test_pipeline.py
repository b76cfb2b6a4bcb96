"""The papermill pipeline, resume and sweeps, on tiny dummy notebooks written into tmp_path.

The real notebooks are exercised by the full-pipeline test (test_notebooks.py, slow); here two
small notebooks stand in for them: 01 records the parameters it received and writes a Stage-I
summary and a figure, 02 reads 01's output, can be made to fail (a flag file, or a chosen
``stage1_steps``) and writes evaluation metrics. Counter files count executions, so "skipped"
is observed, not assumed.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from fixtures import write_notebook

from dpiglib.config import ConfigError, get_preset, resolve_run_config
from dpiglib.pipeline.runner import (CliValue, discover_notebooks, notebook_parameters,
                                     parse_cli_value, plan_pipeline, read_state, run_pipeline)
from dpiglib.pipeline.parameters import NON_LITERAL
from dpiglib.pipeline.sweep import parse_axes, run_name, run_sweep

NB01_PARAMS = '''preset = "synth-tiny"
data_root = ""
run_dir = "runs/example"
device = "auto"
seed = 0
stage1_steps = 400
n_items = 3
label = "x"
'''
NB01_CELLS = [
    "import json, pathlib\nrun = pathlib.Path(run_dir)",
    "with open(run / 'counter_01.txt', 'a') as f:\n    f.write('run\\n')",
    "(run / 'received_01.json').write_text(json.dumps(dict(preset=preset, data_root=data_root, "
    "device=device, seed=seed, stage1_steps=stage1_steps, n_items=n_items, label=label)))",
    "(run / 'stage1').mkdir(exist_ok=True)\n"
    "(run / 'stage1' / 'summary.json').write_text(json.dumps({'l1': 0.25, 'steps': stage1_steps,"
    " 'note': 'text is ignored', 'ok': True}))\n"
    "(run / 'eval' / 'figures').mkdir(parents=True, exist_ok=True)\n"
    "(run / 'eval' / 'figures' / 'curve.png').write_bytes(b'not really a png')",
]
NB02_PARAMS = '''run_dir = ""
stage1_steps = 400
fail_flag = ""
fail_if_steps = -1
'''
NB02_CELLS = [
    "import json, pathlib\nrun = pathlib.Path(run_dir)\n"
    "received = json.loads((run / 'received_01.json').read_text())",
    "with open(run / 'counter_02.txt', 'a') as f:\n    f.write('run\\n')",
    "if (fail_flag and pathlib.Path(fail_flag).exists()) or stage1_steps == fail_if_steps:\n"
    "    raise RuntimeError(f'bad steps {stage1_steps}')",
    "(run / 'eval').mkdir(exist_ok=True)\n"
    "(run / 'eval' / 'metrics.json').write_text(json.dumps("
    "{'dpig': {'ssim': stage1_steps / 1000, 'n_pairs': 64}}))",
]
FAILING_CELL = 5  # 0 markdown, 1 parameters, 2 injected-parameters, 3 imports, 4 counter, 5 raise


def _write_notebook(path: Path, params: str, cells: list[str]) -> None:
    write_notebook(path, params, cells, title="# dummy")


@pytest.fixture
def nbdir(tmp_path: Path) -> Path:
    d = tmp_path / "notebooks"
    d.mkdir()
    _write_notebook(d / "01_prepare.ipynb", NB01_PARAMS, NB01_CELLS)
    _write_notebook(d / "02_train.ipynb", NB02_PARAMS, NB02_CELLS)
    (d / "README.md").write_text("not a notebook")
    (d / "scratch.ipynb").write_text("{}")  # not numbered: ignored
    return d


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# --------------------------------------------------------------------------------------------
# Parameters and validation (nothing executed)
# --------------------------------------------------------------------------------------------


def test_parameters_cell_is_read_without_running(nbdir, tmp_path):
    assert notebook_parameters(nbdir / "02_train.ipynb") == {
        "run_dir": "", "stage1_steps": 400, "fail_flag": "", "fail_if_steps": -1}
    odd = tmp_path / "03_odd.ipynb"
    _write_notebook(odd, "seed = 0\nroot = str(Path.home())\nsteps: int = 5", [])
    assert notebook_parameters(odd) == {"seed": 0, "root": NON_LITERAL, "steps": 5}
    names = [nb.name for nb in discover_notebooks(nbdir)]
    assert names == ["01_prepare.ipynb", "02_train.ipynb"]
    assert [nb.name for nb in discover_notebooks(nbdir, only=["02"])] == ["02_train.ipynb"]
    with pytest.raises(ConfigError, match="matches no notebook; available: 01_prepare"):
        discover_notebooks(nbdir, only=["07"])


def test_cli_values_are_typed_like_papermill():
    assert parse_cli_value("True") is True and parse_cli_value("None") is None
    assert parse_cli_value("12") == 12 and isinstance(parse_cli_value("12"), int)
    assert parse_cli_value("2e-4") == pytest.approx(2e-4)
    assert parse_cli_value("true") == "true"  # papermill keeps lower-case text as str


def test_unknown_name_is_rejected_listing_valid_names(nbdir, tmp_path):
    with pytest.raises(ConfigError) as err:
        plan_pipeline(tmp_path / "run", "synth-tiny", {"stage1_stepz": CliValue("3")}, nbdir)
    msg = str(err.value)
    assert "'stage1_stepz'" in msg
    # shared, flat config and notebook-declared names are all listed
    for name in ("preset", "data_root", "seed", "stage1_steps", "model_width", "n_items",
                 "fail_flag"):
        assert name in msg
    assert not (tmp_path / "run").exists()


def test_wrong_types_and_unknown_preset_are_rejected(nbdir, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="'stage1_steps' expects int"):
        plan_pipeline(run, "synth-tiny", {"stage1_steps": CliValue("many")}, nbdir)
    with pytest.raises(ConfigError, match="'n_items' expects int"):
        plan_pipeline(run, "synth-tiny", {"n_items": CliValue("2.5")}, nbdir)
    with pytest.raises(ConfigError, match="'n_items' expects int"):
        plan_pipeline(run, "synth-tiny", {"n_items": "three"}, nbdir)  # from a YAML file
    with pytest.raises(ConfigError, match="must be one of wgan-clip, wgan-gp"):
        plan_pipeline(run, "synth-tiny", {"stage2_objective": CliValue("wgan")}, nbdir)
    with pytest.raises(ConfigError, match="valid presets: synth-tiny, synth, market"):
        plan_pipeline(run, "synth-huge", {}, nbdir)
    with pytest.raises(ConfigError, match="set by --out"):
        plan_pipeline(run, "synth-tiny", {"run_dir": "elsewhere"}, nbdir)
    with pytest.raises(ConfigError, match="needs real data"):
        plan_pipeline(run, "market", {}, nbdir)
    with pytest.raises(ConfigError, match="parameter 'device'"):
        plan_pipeline(run, "synth-tiny", {"device": "tpu"}, nbdir)
    assert not run.exists()


def test_values_are_typed_by_their_target(nbdir, tmp_path):
    plan = plan_pipeline(tmp_path / "run", "synth-tiny",
                         {"label": CliValue("007"), "n_items": CliValue("4"),
                          "stage1_steps": CliValue("250"), "seed": 3, "device": "cpu"}, nbdir)
    nb01, nb02 = plan.notebooks
    p1 = plan.parameters_for(nb01)
    assert p1["label"] == "007" and p1["n_items"] == 4 and p1["stage1_steps"] == 250
    assert p1["seed"] == 3 and plan.config.seed == 3 and p1["device"] == "cpu"
    assert p1["data_root"] == ""  # "" = the run's own RUN_DIR/data (dpiglib.data.prepare)
    assert plan.data_path == (tmp_path / "run" / "data").resolve()
    # 02 gets only what it declares; its fail_* parameters keep their defaults (not passed)
    assert plan.parameters_for(nb02) == {"run_dir": str((tmp_path / "run").resolve()),
                                         "stage1_steps": 250}
    # a config name a notebook declares but the user did not set gets the preset's value
    plan = plan_pipeline(tmp_path / "run", "synth", {"device": "cpu"}, nbdir)
    assert plan.parameters_for(nb02)["stage1_steps"] == 20_000


def test_preset_is_chosen_from_device_and_data(nbdir, tmp_path):
    assert plan_pipeline(tmp_path / "r", None, {"device": "cpu"}, nbdir).preset == "synth-tiny"
    market = tmp_path / "market"
    market.mkdir()
    (market / "market-annotation-train.csv").write_text("name:keypoints_y:keypoints_x\n")
    plan = plan_pipeline(tmp_path / "r", None, {"data_root": str(market), "device": "cpu"}, nbdir)
    assert plan.preset == "market" and plan.data_path == market.resolve()


# --------------------------------------------------------------------------------------------
# Running, summary, report, resume
# --------------------------------------------------------------------------------------------


def test_full_run_writes_notebooks_summary_and_report(nbdir, tmp_path):
    params_file = tmp_path / "params.yaml"
    params_file.write_text("stage1_steps: 200\nn_items: 7\ndevice: cpu\n")
    from dpiglib.pipeline.runner import load_params_file

    params = {**load_params_file(params_file), "n_items": CliValue("8")}  # -p wins over -f
    run = tmp_path / "run"
    plan = plan_pipeline(run, "synth-tiny", params, nbdir)
    summary = run_pipeline(plan, echo=None)

    assert summary["status"] == "completed" and summary["failed"] is None
    received = json.loads((run / "received_01.json").read_text())
    assert received == {"preset": "synth-tiny", "data_root": "",
                        "device": "cpu", "seed": 0, "stage1_steps": 200, "n_items": 8,
                        "label": "x"}
    for name in ("01_prepare.ipynb", "02_train.ipynb"):
        assert (run / "notebooks" / name).is_file()
        assert (run / "logs" / name.replace(".ipynb", ".log")).is_file()
    # 02's injected cell holds only the names 02 declares
    executed = nbformat.read(str(run / "notebooks" / "02_train.ipynb"), as_version=4)
    injected = next(c for c in executed.cells
                    if "injected-parameters" in c.metadata.get("tags", []))
    assert "stage1_steps = 200" in injected.source and "preset" not in injected.source

    config = json.loads((run / "config.json").read_text())
    assert config["config"]["stage1"]["steps"] == 200
    assert config["run"]["overrides"]["n_items"] == 8
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk["metrics"] == {"stage1/l1": 0.25, "stage1/steps": 200,
                                  "eval/dpig/ssim": 0.2, "eval/dpig/n_pairs": 64}
    assert set(on_disk["timings_s"]) == {"01_prepare.ipynb", "02_train.ipynb"}
    assert on_disk["total_s"] == pytest.approx(sum(on_disk["timings_s"].values()), abs=1e-2)
    assert on_disk["versions"]["papermill"] and on_disk["versions"]["python"]
    assert on_disk["device"]["device"] == "cpu" and on_disk["parameters"]["seed"] == 0
    report = (run / "report.md").read_text()
    assert "| `stage1_steps` | 200 |" in report and "| `n_items` | 8 |" in report
    assert "`02_train.ipynb`" in report and "eval/dpig/ssim" in report
    assert "![eval/figures/curve.png](eval/figures/curve.png)" in report
    # the stored config reaches a notebook that runs alone in this directory
    assert resolve_run_config("synth-tiny", run, stage1_steps=None).stage1.steps == 200
    with pytest.raises(ConfigError, match="written for preset 'synth-tiny'"):
        resolve_run_config("synth", run)


def test_failed_run_records_cell_and_resumes_there(nbdir, tmp_path):
    flag = tmp_path / "fail.flag"
    flag.write_text("fail once")
    run = tmp_path / "run"
    params = {"fail_flag": str(flag), "device": "cpu"}
    summary = run_pipeline(plan_pipeline(run, "synth-tiny", params, nbdir), echo=None)
    assert summary["status"] == "failed"
    failed = summary["failed"]
    assert failed["notebook"] == "02_train.ipynb" and failed["cell_index"] == FAILING_CELL
    # the notebook received the preset's resolved value for a None default
    steps = get_preset("synth-tiny").stage1.steps
    assert failed["ename"] == "RuntimeError" and f"bad steps {steps}" in failed["evalue"]
    state = read_state(run)
    assert state["notebooks"]["01_prepare.ipynb"]["status"] == "completed"
    assert state["notebooks"]["02_train.ipynb"]["status"] == "failed"
    assert "Failed:** `02_train.ipynb` at cell 5" in (run / "report.md").read_text()

    flag.unlink()
    log: list[str] = []
    summary = run_pipeline(plan_pipeline(run, "synth-tiny", params, nbdir), echo=log.append)
    assert summary["status"] == "completed"
    assert _lines(run / "counter_01.txt") == 1  # skipped on resume
    assert _lines(run / "counter_02.txt") == 2  # failed attempt + the resumed one
    assert read_state(run)["notebooks"]["02_train.ipynb"]["attempts"] == 2
    assert any("01_prepare.ipynb: already completed" in line for line in log)
    assert set(summary["timings_s"]) == {"01_prepare.ipynb", "02_train.ipynb"}


def test_interrupted_run_resumes_and_parameter_changes_need_force(nbdir, tmp_path, monkeypatch):
    import papermill

    real = papermill.execute_notebook

    def interrupted_at_02(input_path, *args, **kwargs):
        if Path(input_path).name.startswith("02"):
            raise KeyboardInterrupt  # Ctrl-C while notebook 02 runs
        return real(input_path, *args, **kwargs)

    run = tmp_path / "run"
    params = {"device": "cpu"}
    monkeypatch.setattr(papermill, "execute_notebook", interrupted_at_02)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(plan_pipeline(run, "synth-tiny", params, nbdir), echo=None)
    state = read_state(run)
    assert state["status"] == "interrupted"
    assert state["notebooks"]["02_train.ipynb"]["status"] == "interrupted"
    monkeypatch.setattr(papermill, "execute_notebook", real)

    with pytest.raises(ConfigError, match=r"different parameters \(notebook_overrides.n_items\)"):
        run_pipeline(plan_pipeline(run, "synth-tiny", {**params, "n_items": 5}, nbdir), echo=None)
    with pytest.raises(ConfigError, match=r"config.stage1.steps"):
        run_pipeline(plan_pipeline(run, "synth-tiny", {**params, "stage1_steps": 9}, nbdir),
                     echo=None)
    # the same parameters (the device may differ between sessions) resume at 02
    summary = run_pipeline(plan_pipeline(run, "synth-tiny", params, nbdir), echo=None)
    assert summary["status"] == "completed"
    assert _lines(run / "counter_01.txt") == 1 and _lines(run / "counter_02.txt") == 1
    # --force starts over with new parameters
    summary = run_pipeline(plan_pipeline(run, "synth-tiny", {**params, "n_items": 5}, nbdir),
                           force=True, echo=None)
    assert summary["status"] == "completed" and _lines(run / "counter_01.txt") == 2
    assert json.loads((run / "received_01.json").read_text())["n_items"] == 5


# --------------------------------------------------------------------------------------------
# Sweeps
# --------------------------------------------------------------------------------------------


def test_sweep_axes_and_names():
    axes = parse_axes([("stage1_steps", "200,400"), ("seed", "0, 1")])
    assert axes == {"stage1_steps": ["200", "400"], "seed": ["0", "1"]}
    assert all(isinstance(v, CliValue) for v in axes["seed"])
    assert run_name(3, {"stage1_steps": 400, "data_root": "/a b/c"}) == \
        "run_003_stage1_steps-400_data_root-/ab/c".replace("/", "")
    with pytest.raises(ConfigError, match="no values"):
        parse_axes([("seed", ",")])


def test_sweep_invalid_combination_fails_before_any_run(nbdir, tmp_path):
    with pytest.raises(ConfigError, match="sweep run run_001_stage1_steps-abc: .*expects int"):
        run_sweep(tmp_path / "sweep", {"stage1_steps": [CliValue("200"), CliValue("abc")]},
                  "synth-tiny", {"device": "cpu"}, nbdir, echo=None)
    assert not (tmp_path / "sweep").exists()


def test_sweep_collects_table_with_one_failing_combination(nbdir, tmp_path):
    out = tmp_path / "sweep"
    df = run_sweep(out, parse_axes([("stage1_steps", "200,300")]), "synth-tiny",
                   {"fail_if_steps": 300, "device": "cpu"}, nbdir, echo=None)
    assert list(df["run"]) == ["run_000_stage1_steps-200", "run_001_stage1_steps-300"]
    ok, bad = df.iloc[0], df.iloc[1]
    assert ok["status"] == "completed" and ok["stage1_steps"] == 200
    assert ok["eval/dpig/ssim"] == pytest.approx(0.2) and ok["stage1/l1"] == 0.25
    assert ok["total_s"] > 0 and ok["time_s/02_train"] > 0
    assert bad["status"] == "failed" and bad["failed_notebook"] == "02_train.ipynb"
    assert bad["failed_cell"] == FAILING_CELL and "bad steps 300" in bad["error"]
    assert pd.isna(bad["eval/dpig/ssim"])  # 02 failed before writing metrics
    table = pd.read_csv(out / "sweep.csv")
    assert list(table["status"]) == ["completed", "failed"]
    assert table.loc[1, "failed_cell"] == FAILING_CELL
    assert (out / "sweep.png").stat().st_size > 1000
    assert (out / "run_000_stage1_steps-200" / "summary.json").is_file()
