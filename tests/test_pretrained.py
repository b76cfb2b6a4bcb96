"""Pretrained models (dpiglib.pretrained): export, checked loading, held-out ratios, CLI, seeds.

A briefly trained tiny run (the session's ``trained_tiny_run``) stands in for the shipped model:
the files, checks and numbers are the same whatever the width. The shipped weights themselves
are tested where they are committed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dpiglib.cli import main
from dpiglib.config import (PRETRAINED_HELDOUT_SEED, PRETRAINED_SEED, config_to_dict)
from dpiglib.metrics.ground_truth import (CopySourceModel, SamplerModel, ground_truth_ratios,
                                          ground_truth_scores)
from dpiglib.pretrained.registry import PretrainedError, ReservedSeedWarning
from dpiglib.pretrained import build as pt_build
from dpiglib.pretrained.store import (export_pretrained, heldout_dataset, pretrained_ratios,
                                      read_pretrained, unseen_people)
from dpiglib.sampling.sampler import Sampler

ROOT = Path(__file__).resolve().parents[1]
NAME = "tiny-test"
PAIRS = 4  # held-out pairs per task in these tests (the default, 128, is for the real export)


@pytest.fixture(scope="module")
def exported(trained_tiny_run, tmp_path_factory):
    """The tiny run exported once: ``(folder, manifest, heldout cache)``."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("pretrained_export")
    cache = tmp_path_factory.mktemp("heldout_cache")
    manifest = export_pretrained(trained_tiny_run.run_dir, NAME, out, "pytest export",
                                 {"note": "test"}, pairs=PAIRS, heldout_cache=cache,
                                 progress=False)
    return out, manifest, cache


def _copy(exported, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json"):
        shutil.copy(exported[0] / f"{NAME}{suffix}", dest / f"{NAME}{suffix}")
    return dest


def _one_line_error(folder: Path, match: str, name: str = NAME) -> str:
    with pytest.raises(PretrainedError) as exc:
        read_pretrained(folder, name, "cpu")
    msg = str(exc.value)
    assert "\n" not in msg and match in msg, msg
    return msg


# --------------------------------------------------------------------------------------------
# ground_truth_ratios
# --------------------------------------------------------------------------------------------


def _frame(rows):
    return pd.DataFrame([{"model": "m", "task": t, "metric": m, "value": v, "std": 0.0,
                          "count": 4, "note": ""} for t, m, v in rows])


MODEL_ROWS = [
    ("pose_transfer", "L1", 0.9),  # not the foreground L1: must not be picked
    ("pose_transfer", "L1 on true foreground", 0.10),
    ("pose_transfer", "L1 on true background", 0.7),
    ("fg_swap", "L1 on true foreground", 0.06),
    ("leakage: bg", "leak: mean |Δ| on true foreground (should be 0)", 0.01),
    ("leakage: bg", "intended: mean |Δ| on the factor's own pixels", 0.04),
    ("leakage: fg", "leak: mean |Δ| on true background (should be 0)", 0.03),
    ("leakage: fg", "intended: mean |Δ| on the factor's own pixels", 0.12),
]
COPY_ROWS = [("pose_transfer", "L1 on true foreground", 0.20),
             ("fg_swap", "L1 on true foreground", 0.24)]


def test_ground_truth_ratios_by_hand():
    r = ground_truth_ratios(_frame(MODEL_ROWS), _frame(COPY_ROWS))
    assert r == pytest.approx({"pose_transfer_l1": 0.5, "fg_swap_l1": 0.25,
                               "bg_swap_leak": 0.25, "fg_swap_leak": 0.25})
    # no intended change: leak 0 → nan, leak > 0 → inf
    rows = [r_ if r_[0] != "leakage: bg" or not r_[1].startswith("intended") else
            (r_[0], r_[1], 0.0) for r_ in MODEL_ROWS]
    assert ground_truth_ratios(_frame(rows), _frame(COPY_ROWS))["bg_swap_leak"] == float("inf")
    # a missing row is named
    with pytest.raises(ValueError, match="leakage: fg"):
        ground_truth_ratios(_frame([r_ for r_ in MODEL_ROWS if r_[0] != "leakage: fg"]),
                            _frame(COPY_ROWS))
    with pytest.raises(ValueError, match="copy_scores.*fg_swap"):
        ground_truth_ratios(_frame(MODEL_ROWS), _frame(COPY_ROWS[:1]))


def test_ground_truth_ratios_on_a_tiny_run(trained_tiny_run):
    torch.set_num_threads(1)
    run, root = trained_tiny_run.run_dir, trained_tiny_run.data_root
    sampler = Sampler.from_run_dir(run, "cpu")
    model = ground_truth_scores(SamplerModel(sampler, root), root, "test", n=4)
    copy = ground_truth_scores(CopySourceModel(root), root, "test", n=4)
    r = ground_truth_ratios(model, copy)

    def v(df, task, prefix):
        rows = df[(df.task == task) & df.metric.str.startswith(prefix)]
        return float(rows.value.iloc[0])

    assert r["pose_transfer_l1"] == pytest.approx(
        v(model, "pose_transfer", "L1 on true foreground")
        / v(copy, "pose_transfer", "L1 on true foreground"))
    assert r["fg_swap_leak"] == pytest.approx(v(model, "leakage: fg", "leak:")
                                              / v(model, "leakage: fg", "intended:"))
    assert all(np.isfinite(x) and x > 0 for x in r.values()), r


# --------------------------------------------------------------------------------------------
# export and read back
# --------------------------------------------------------------------------------------------


def test_export_writes_fp16_weights_and_a_complete_manifest(exported, trained_tiny_run):
    from safetensors import safe_open

    out, manifest, _ = exported
    wpath, jpath = out / f"{NAME}.safetensors", out / f"{NAME}.json"
    on_disk = json.loads(jpath.read_text())
    assert on_disk["ratios"] == pytest.approx(manifest["ratios"])
    entry = on_disk["files"][wpath.name]
    import hashlib
    assert entry == {"sha256": hashlib.sha256(wpath.read_bytes()).hexdigest(),
                     "bytes": wpath.stat().st_size}
    assert on_disk["config"] == config_to_dict(trained_tiny_run.cfg)
    assert on_disk["command"] == "pytest export" and on_disk["extra"] == {"note": "test"}
    assert on_disk["seed"] == trained_tiny_run.cfg.seed
    assert on_disk["steps"] == {"stage1_image": 40, "stage1_pose": 60,
                                "stage2": {"fg": 40, "bg": 40, "pose": 40}}
    assert set(on_disk["wall_seconds"]) == {"stage1_image", "stage1_pose", "stage2"}
    assert all(s > 0 for s in on_disk["wall_seconds"].values())
    assert {"cpu", "cores", "torch", "device"} <= set(on_disk["machine"])
    assert "git" in on_disk["kit"]
    assert on_disk["heldout"]["seed"] == PRETRAINED_HELDOUT_SEED
    assert on_disk["heldout"]["pairs"] == PAIRS
    assert set(on_disk["ratios"]) == {"pose_transfer_l1", "fg_swap_l1", "bg_swap_leak",
                                      "fg_swap_leak"}
    assert all(np.isfinite(x) and x > 0 for x in on_disk["ratios"].values())
    with safe_open(str(wpath), "pt") as f:
        keys = list(f.keys())
        dtypes = {f.get_slice(k).get_dtype() for k in keys if k.startswith(("stage1.", "phi."))
                  and "num_batches" not in k}
    assert dtypes == {"F16"}
    assert any(k.startswith("stage1.generator.") for k in keys)
    assert any(k.startswith("pose_ae.") for k in keys) and "pose_bank" in keys
    assert not any(k.startswith("critic") or ".critic." in k for k in keys)  # training-only
    assert wpath.stat().st_size < 30 * 2**20


def test_read_pretrained_renders_what_the_run_renders(exported, trained_tiny_run):
    torch.set_num_threads(1)
    torch.manual_seed(11)
    before = torch.rand(3)
    torch.manual_seed(11)
    loaded = read_pretrained(exported[0], NAME, "cpu")
    assert torch.equal(torch.rand(3), before)  # loading leaves the user's torch RNG alone
    ref = Sampler.from_run_dir(trained_tiny_run.run_dir, "cpu")
    assert loaded.factor_names == ref.factor_names
    assert all(p.dtype == torch.float32 for p in loaded.stage1.parameters())
    a, b = loaded.sample(4, seed=3), ref.sample(4, seed=3)
    assert (a - b).abs().max() < 0.02  # fp16 storage
    from dpiglib.data.datasets import PersonDataset

    ds = PersonDataset(trained_tiny_run.data_root, "test", ref.cfg.data, flip=False)
    items = [ds.load(0), ds.load(1)]
    pt = (loaded.pose_transfer(items[0], items[1]) - ref.pose_transfer(items[0], items[1]))
    assert pt.abs().max() < 0.02
    assert torch.equal(loaded.pose_bank, ref.pose_bank)
    assert loaded.pose_bank_names == ref.pose_bank_names
    assert loaded.pretrained["steps"]["stage1_image"] == 40


def test_ratios_are_those_of_the_stored_weights(exported):
    out, manifest, cache = exported
    stored = read_pretrained(out, NAME, "cpu")
    root = heldout_dataset(cache, stored, progress=False)
    assert pretrained_ratios(stored, root, PAIRS, progress=False) == pytest.approx(
        manifest["ratios"])


def test_heldout_set_is_rendered_once_with_the_reserved_seed(exported):
    _, manifest, cache = exported
    stored = read_pretrained(exported[0], NAME, "cpu")
    root = heldout_dataset(cache, stored.cfg, progress=False)
    marker = root / "synth-complete.json"
    mtime = marker.stat().st_mtime_ns
    assert heldout_dataset(cache, stored.cfg, progress=False) == root  # reused
    assert marker.stat().st_mtime_ns == mtime
    params = json.loads(marker.read_text())["params"]
    assert params["seed"] == PRETRAINED_HELDOUT_SEED and params["test_identities"] == 32
    assert root.name.startswith("heldout-") and len(list((root / "test").glob("*.png"))) == 256


# --------------------------------------------------------------------------------------------
# damaged files: one line naming the file
# --------------------------------------------------------------------------------------------


def test_flipped_byte_is_refused(exported, tmp_path):
    folder = _copy(exported, tmp_path)
    w = folder / f"{NAME}.safetensors"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    _one_line_error(folder, f"{NAME}.safetensors is corrupted")


def test_truncated_file_is_refused(exported, tmp_path):
    folder = _copy(exported, tmp_path)
    w = folder / f"{NAME}.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    _one_line_error(folder, f"{NAME}.safetensors is truncated")


def test_manifest_of_another_width_is_an_architecture_mismatch(exported, tmp_path):
    folder = _copy(exported, tmp_path)
    j = folder / f"{NAME}.json"
    doc = json.loads(j.read_text())
    doc["config"]["model"]["width"] += 4
    j.write_text(json.dumps(doc))
    msg = _one_line_error(folder, f"{NAME}.safetensors does not fit the architecture")
    assert "other shapes" in msg and f"{NAME}.json" in msg


def test_unreadable_safetensors_with_a_matching_hash_is_refused(exported, tmp_path):
    import hashlib

    folder = _copy(exported, tmp_path)
    w, j = folder / f"{NAME}.safetensors", folder / f"{NAME}.json"
    w.write_bytes(b"\xff" * 64)
    doc = json.loads(j.read_text())
    doc["files"][w.name] = {"sha256": hashlib.sha256(w.read_bytes()).hexdigest(), "bytes": 64}
    j.write_text(json.dumps(doc))
    _one_line_error(folder, f"{NAME}.safetensors is not a readable safetensors file")


def test_missing_or_broken_manifest_is_refused(exported, tmp_path):
    folder = _copy(exported, tmp_path)
    (folder / f"{NAME}.json").write_text("{not json")
    _one_line_error(folder, f"{NAME}.json is not readable JSON")
    (folder / f"{NAME}.json").unlink()
    _one_line_error(folder, f"{NAME}.json not found")


def test_export_of_an_untrained_run_is_one_line(tmp_path):
    for run, match in ((tmp_path / "missing", "not a trained run directory"),
                       (tmp_path / "empty", "no Stage-I checkpoint")):
        (tmp_path / "empty" / "stage1" / "checkpoints").mkdir(parents=True, exist_ok=True)
        with pytest.raises(PretrainedError) as exc:
            export_pretrained(run, NAME, tmp_path / "out", progress=False)
        assert "\n" not in str(exc.value) and match in str(exc.value), exc.value
        assert str(run) in str(exc.value)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# shipped models, lazy import, CLI
# --------------------------------------------------------------------------------------------


def test_load_pretrained_without_shipped_weights_names_the_file(tmp_path, monkeypatch):
    import dpiglib
    import dpiglib.pretrained.registry as pt

    monkeypatch.setattr(pt, "WEIGHTS_DIR", tmp_path)
    assert dpiglib.list_pretrained() == []
    with pytest.raises(PretrainedError) as exc:
        dpiglib.load_pretrained("synth-tiny", "cpu")
    msg = str(exc.value)
    assert "\n" not in msg and str(tmp_path / "synth-tiny.safetensors") in msg
    assert "dpig pretrained build synth-tiny" in msg
    with pytest.raises(PretrainedError, match="unknown pretrained model 'nope'"):
        dpiglib.load_pretrained("nope")


def test_load_pretrained_and_list_find_shipped_pairs(exported, tmp_path, monkeypatch):
    import dpiglib
    import dpiglib.pretrained.registry as pt

    folder = _copy(exported, tmp_path)
    (folder / "orphan.json").write_text("{}")  # no weights beside it: not listed
    monkeypatch.setattr(pt, "WEIGHTS_DIR", folder)
    assert dpiglib.list_pretrained() == [NAME]
    sampler = dpiglib.load_pretrained(NAME, "cpu")
    assert sampler.pose_bank is not None and sampler.sample(2, seed=0).shape == (2, 3, 64, 32)


def test_import_dpiglib_stays_cheap():
    code = ("import sys, dpiglib; assert callable(dpiglib.load_pretrained); "
            "dpiglib.list_pretrained(); "
            "print(sorted(m for m in ('torch', 'safetensors', 'dpiglib.pretrained.store') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_cli_pretrained_list_and_help(exported, tmp_path, monkeypatch, capsys):
    import dpiglib.pretrained.registry as pt

    monkeypatch.setattr(pt, "WEIGHTS_DIR", tmp_path / "none")
    assert main(["pretrained", "list"]) == 0
    assert "no pretrained models shipped" in capsys.readouterr().out
    monkeypatch.setattr(pt, "WEIGHTS_DIR", _copy(exported, tmp_path / "w"))
    assert main(["pretrained", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{NAME}: ") and "pose_transfer_l1" in out
    with pytest.raises(SystemExit) as exit_:
        main(["pretrained", "build", "--help"])
    help_text = capsys.readouterr().out
    assert exit_.value.code == 0 and "--export-to" in help_text and "--out" in help_text
    assert main(["pretrained", "build", "nope", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown pretrained model 'nope'" in err


def test_cli_build_trains_then_exports_with_the_command(trained_tiny_run, tmp_path, monkeypatch,
                                                        capsys):
    import dpiglib.config as config

    calls = []

    def fake_train(name, out_dir, device="auto", progress=True):  # the run is already trained
        calls.append((name, Path(out_dir), device))
        return {"seconds": {"stage1_image": 1.0}}

    monkeypatch.setattr(pt_build, "train_recipe", fake_train)
    monkeypatch.setitem(config.PRETRAINED_HELDOUT, "pairs", PAIRS)  # default held-out size: 128
    monkeypatch.setenv("DPIGLIB_CACHE", str(tmp_path / "cache"))
    run, export = trained_tiny_run.run_dir, tmp_path / "export"
    rc = main(["pretrained", "build", "synth-tiny", "--out", str(run), "--device", "cpu",
               "--export-to", str(export), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    assert calls == [("synth-tiny", run, "cpu")]
    doc = json.loads((export / "synth-tiny.json").read_text())
    assert doc["command"] == (f"dpig pretrained build synth-tiny --out {run} --device cpu "
                              f"--export-to {export}")
    assert doc["extra"]["recipe"]["preset"] == "synth-tiny"
    assert doc["extra"]["build_seconds_this_call"] == {"stage1_image": 1.0}
    assert doc["heldout"]["pairs"] == PAIRS and (tmp_path / "cache").is_dir()
    assert "held-out ratios" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# reserved seeds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [PRETRAINED_SEED, PRETRAINED_HELDOUT_SEED])
def test_a_run_with_a_reserved_seed_warns(seed, tmp_path):
    from dpiglib.pipeline.runner import plan_pipeline

    with pytest.warns(ReservedSeedWarning, match=f"seed {seed}, reserved"):
        plan_pipeline(tmp_path / "run", "synth-tiny", {"seed": seed})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReservedSeedWarning)
        plan_pipeline(tmp_path / "run", "synth-tiny", {"seed": seed + 100})  # no warning


def test_dpig_run_prints_the_reserved_seed_warning_once(tmp_path, capsys):
    for _ in range(2):  # every command warns, once (no "already shown" registry)
        rc = main(["run", "--preset", "synth-tiny", "--seed", str(PRETRAINED_SEED), "--out",
                   str(tmp_path / "run"), "--dry-run"])
        assert rc == 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("dpig run: warning: this run uses seed 2018")
    assert main(["run", "--preset", "synth-tiny", "--seed", "7", "--out", str(tmp_path / "r"),
                 "--dry-run"]) == 0
    assert capsys.readouterr().err == ""


def test_heldout_set_of_another_seed_is_another_draw(exported, tmp_path):
    # scripts/pretrained_spread.py: the same kind of set, other people, its own folder
    stored = read_pretrained(exported[0], NAME, "cpu")
    default = heldout_dataset(exported[2], stored.cfg, progress=False)
    other = heldout_dataset(tmp_path, stored.cfg, progress=False, seed=7001)
    assert heldout_dataset(tmp_path, stored.cfg, progress=False,
                           seed=PRETRAINED_HELDOUT_SEED).name == default.name
    assert other.name != default.name
    params = json.loads((other / "synth-complete.json").read_text())["params"]
    assert params["seed"] == 7001 and params["test_identities"] == 32
    assert len(list((other / "test").glob("*.png"))) == 256
    first = sorted((default / "test").glob("*.png"))[0].read_bytes()
    assert sorted((other / "test").glob("*.png"))[0].read_bytes() != first


def test_unseen_people_are_the_runs_test_people_at_the_models_size(tmp_path):
    """The run's own SynthPerson test people where the pretrained model never saw them: the run's
    set as it is at the model's size, re-rendered at the model's size otherwise (same people,
    poses and backgrounds); the held-out set for the reserved seed or without a run set."""
    from dpiglib.config import get_preset
    from dpiglib.data.datasets import PersonDataset
    from dpiglib.synth.dataset import generate_synthperson, load_factors

    model_cfg = get_preset("synth-tiny")  # stands in for the pretrained model's config: 64×32
    small, big, reserved = tmp_path / "small", tmp_path / "big", tmp_path / "reserved"
    generate_synthperson(small, 3, 2, 4, size=(32, 16), seed=5, style="simple", progress=False)
    generate_synthperson(big, 3, 2, 4, size=(64, 32), seed=5, style="simple", progress=False)
    generate_synthperson(reserved, 3, 2, 4, size=(64, 32), seed=PRETRAINED_SEED, style="simple",
                         progress=False)
    cache = tmp_path / "cache"

    root, what = unseen_people(model_cfg, big, cache_dir=cache)
    assert root == big and what.startswith("test images of this run ")
    assert not cache.exists()  # nothing rendered

    root, what = unseen_people(model_cfg, small, cache_dir=cache)
    assert root.parent == cache and root.name.startswith("people-") and "64×32" in what
    assert load_factors(root, "test").equals(load_factors(small, "test"))  # the same people
    for name in ("test", "test_mask"):  # the same people drawn at the same size: the same files
        assert ([p.read_bytes() for p in sorted((root / name).glob("*.png"))]
                == [p.read_bytes() for p in sorted((big / name).glob("*.png"))])
    first = PersonDataset(root, "test", model_cfg.data, flip=False)[0]
    assert tuple(first["image"].shape) == (3, 64, 32)
    assert unseen_people(model_cfg, small, cache_dir=cache)[0] == root  # reused

    for no_run_set in (reserved, tmp_path / "missing", None):
        root, what = unseen_people(model_cfg, no_run_set, cache_dir=cache)
        assert root.name.startswith("heldout-") and what.startswith("held-out SynthPerson")


def _script(name: str):
    """A script of scripts/ imported as a module (they are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spread_script_scores_each_model_on_sets_drawn_at_its_own_size(tmp_path, monkeypatch):
    # a 128x64 probe must be scored on 128x64 renders of the same seeds, not on the 64x32 sets
    from PIL import Image

    from dpiglib.config import get_preset

    monkeypatch.setenv("DPIGLIB_CACHE", str(tmp_path / "cache"))
    spread = _script("pretrained_spread")
    small = get_preset("synth-tiny")
    big = get_preset("synth-tiny", data_image_height=128, data_image_width=64,
                     model_encoder_levels=5, model_background_levels=5, model_generator_levels=5,
                     model_roi_size=48)
    draws = tmp_path / "draws"
    a, b = spread.heldout_set(7001, small, draws), spread.heldout_set(7001, big, draws)
    first = sorted((a / "test").glob("*.png"))[0]
    stamp = first.stat().st_mtime_ns
    # one render per (seed, size, style): a second model of the same kind reuses the set
    assert spread.heldout_set(7001, small, draws) == a and first.stat().st_mtime_ns == stamp
    for root, size in ((a, (32, 64)), (b, (64, 128))):
        assert root.parent == draws
        with Image.open(sorted((root / "test").glob("*.png"))[0]) as im:
            assert im.size == size
    assert spread.heldout_set(PRETRAINED_HELDOUT_SEED, big, draws).parent == tmp_path / "cache"


def test_probe_curves_figure_is_drawn_from_the_committed_results(tmp_path):
    # scripts/pretrained_probe_curves.py: docs/pretrained_probes.md's "Where this scale stops improving"
    out = tmp_path / "curves.png"
    script = ROOT / "scripts" / "pretrained_probe_curves.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    from PIL import Image
    with Image.open(out) as im:
        assert im.size[0] > 1000 and im.size[1] > 400
    # the title's spans are computed from the results, and the docs quote them
    results = ROOT / "benchmarks" / "results"
    spread = json.loads((results / "pretrained_spread.json").read_text())["summary"]
    probes = json.loads((results / "pretrained_probes.json").read_text())["candidates"]
    # the spans are the 64x32 models'; a probe at another size (S128) is drawn but left out
    curves = _script("pretrained_probe_curves")
    elsewhere = curves.other_scale(probes)
    assert elsewhere == {"S128": "128×64", "W128": "128×64"}
    seed_values = [s["pose_transfer_l1"]["seed_2019"] for label, s in spread.items()
                   if curves.spread_name(label) not in elsewhere]
    assert len(seed_values) == len(spread) - 2  # S128 and W128
    docs = (ROOT / "docs" / "pretrained_probes.md").read_text()
    assert f"({min(seed_values):.2f}–{max(seed_values):.2f})" in docs


def test_ratio_table_scores_every_row_at_its_own_size(trained_tiny_run, tmp_path, monkeypatch,
                                                       capsys):
    # scripts/pretrained_table.py: docs/pretrained.md's table; the shipped model is 128x64, the
    # notebook's 64x32, so each is scored on its own size and gets its own untrained baseline
    monkeypatch.setenv("DPIGLIB_CACHE", str(tmp_path / "cache"))
    table = _script("pretrained_table")
    assert table.main(["--run", str(trained_tiny_run.run_dir), "--pairs", "4"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| ")][1:]  # no header
    from dpiglib import load_pretrained

    shipped_cfg = load_pretrained("synth-tiny", device="cpu").cfg
    shipped = "×".join(map(str, shipped_cfg.data.image_size))
    sizes = {r.split(" | ")[0][2:]: r.split(" | ")[1] for r in rows}
    assert sizes["untrained (synth-tiny initialisation)"] == "64×32"
    assert any(k.startswith("shipped `synth-tiny`") and v == shipped for k, v in sizes.items())
    assert ("untrained (`synth-tiny`'s architecture)" in sizes) == (shipped != "64×32")
    for r in rows:  # four finite ratios per row
        assert len([float(x) for x in r.strip("| ").split(" | ")[2:]]) == 4
    # the untrained baselines are one fixed initialisation (seed 0), not whatever came before
    a, b = table.untrained(shipped_cfg), table.untrained(shipped_cfg)
    for (k, v), w in zip(a.stage1.state_dict().items(), b.stage1.state_dict().values()):
        assert torch.equal(v, w), k
