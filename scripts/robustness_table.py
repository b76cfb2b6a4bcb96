"""Run every bad-input case and write the table of observed messages (docs/robustness.md).

    python scripts/robustness_table.py            # rewrite docs/robustness.md
    python scripts/robustness_table.py --check    # exit 1 if the doc differs from the code

Each :class:`Case` builds one bad input in a temp folder, calls the user-facing entry point on it
(a dataset class, a trainer, a loader, ``get_preset``) and records what happened: the exception
type and message, or "accepted" for inputs the kit converts on purpose. ``tests/test_bad_input.py``
runs the same cases one test each and asserts that each message names the file/row/parameter
(``Case.must_name``), says what to do (``Case.hint``), and that no file written before the call
changed. Temp paths in messages are shown as ``<tmp>``. Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "robustness.md"
H, W = 64, 32

# A standing person at 64×32 (row, col) in OpenPose order; every keypoint visible.
_POSE = np.array([[9, 16], [15, 16], [15, 11], [23, 9], [30, 8], [15, 21], [23, 23], [30, 24],
                  [32, 13], [44, 13], [56, 13], [32, 19], [44, 19], [56, 19], [7, 14], [7, 17],
                  [8, 13], [8, 19]], dtype=np.float32)
RCV = np.concatenate([_POSE, np.ones((18, 1), np.float32)], axis=1)

# Tiny Stage-I/II widths: a step takes milliseconds on a CPU.
TINY = dict(model_width=8, model_disc_width=8, model_pose_hidden=32, model_pose_blocks=1,
            model_mapping_width_fg=16, model_mapping_width_bg=16, model_mapping_width_pose=16,
            model_mapping_blocks=1, model_critic_width=16, model_critic_hidden_layers=1,
            stage1_batch_size=4, stage1_steps=1, stage1_pose_ae_steps=1, stage1_pose_ae_batch_size=4,
            stage1_log_every=1, stage1_checkpoint_every=1, stage1_sample_every=1,
            stage1_val_every=1, stage1_val_images=2, stage1_keep_last=0, stage2_steps=1,
            stage2_pose_steps=1, stage2_batch_size=4, stage2_pose_batch_size=4,
            stage2_critic_steps=1, stage2_log_every=1, stage2_checkpoint_every=1,
            stage2_keep_last=0)


def tiny_cfg(**kw):
    from dpiglib.config import get_preset

    return get_preset("synth-tiny", **{**TINY, **kw})


# --------------------------------------------------------------------------------------------
# Building inputs
# --------------------------------------------------------------------------------------------


def write_dataset(root: Path, n: int = 8, splits=("train", "test"), seed: int = 0) -> Path:
    """A valid ``synth``-prefixed root: ``n`` 64×32 PNGs per split (2 per identity), pairs."""
    from dpiglib.data.annotations import write_annotation_csv, write_pairs_csv

    rng = np.random.default_rng(seed)
    for split in splits:
        names = [f"{i // 2:04d}_{split}_{i:03d}.png" for i in range(n)]
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in names:
            Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / split / name)
        write_annotation_csv(root / f"synth-annotation-{split}.csv", names, [RCV] * n)
        write_pairs_csv(root / f"synth-pairs-{split}.csv",
                        [(names[i], names[i + 1]) for i in range(0, n, 2)])
    return root


def names_of(root: Path, split: str = "train") -> list[str]:
    lines = (root / f"synth-annotation-{split}.csv").read_text().splitlines()[1:]
    return [ln.split(":")[0] for ln in lines]


def edit_csv_line(root: Path, line: int, fn: Callable[[str], str], split: str = "train") -> Path:
    """Apply ``fn`` to 1-based ``line`` of the annotation CSV."""
    p = root / f"synth-annotation-{split}.csv"
    lines = p.read_text().splitlines()
    lines[line - 1] = fn(lines[line - 1])
    p.write_text("\n".join(lines) + "\n")
    return p


def _ys(text: str, new: str) -> str:
    name, _, xs = text.split(":")
    return f"{name}: {new}:{xs}"


_CACHE: dict[str, Any] = {}


def trained_run(tmp: Path) -> Path:
    """Stage-I (image 1 step, pose AE 1 step) and Stage-II (1 step) at tiny width, built once."""
    if "run" not in _CACHE:
        import torch

        from dpiglib.training.stage1 import train_stage1
        from dpiglib.training.stage2 import train_stage2

        torch.set_num_threads(1)
        base = Path(tempfile.mkdtemp(prefix="dpig_robust_"))
        data = write_dataset(base / "data")
        cfg = tiny_cfg()
        for model in ("image", "pose"):
            train_stage1(cfg, data, base / "run", device="cpu", model=model, progress=False)
        train_stage2(cfg, data, base / "run", device="cpu", progress=False)
        _CACHE["run"] = base
    import shutil

    shutil.copytree(_CACHE["run"], tmp / "trained")
    return tmp / "trained"


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One bad input. ``setup(tmp)`` builds it and returns ``(call, must_name)``: the call that
    meets the input and the strings its message must contain (file, line, parameter)."""

    id: str
    group: str
    what: str  # the bad input, in words
    entry: str  # the call that meets it
    setup: Callable[[Path], tuple[Callable[[], Any], list[str]]]
    hint: tuple[str, ...] = ()  # words of the "what to do" part (any one must appear)
    accepted: bool = False  # a legal input converted on purpose (no error)
    error: str = "DatasetError"


CASES: list[Case] = []


def case(id, group, what, entry, hint=(), accepted=False, error="DatasetError"):
    def deco(fn):
        CASES.append(Case(id, group, what, entry, fn, tuple(hint), accepted, error))
        return fn
    return deco


def _person(root, split="train", **kw):
    from dpiglib.data.datasets import PersonDataset

    return lambda: PersonDataset(root, split, tiny_cfg().data, **kw)


def _item(root, index, split="train"):
    from dpiglib.data.datasets import PersonDataset

    return lambda: PersonDataset(root, split, tiny_cfg().data, flip=False)[index]


@case("missing_root", "data root", "data root does not exist", "PersonDataset(root, 'train', cfg.data)",
      hint=("does not exist",))
def _(tmp):
    return _person(tmp / "no_such_root"), [str(tmp / "no_such_root")]


@case("empty_root", "data root", "data root is an empty folder", "PersonDataset(root, 'train', cfg.data)",
      hint=("looked for",))
def _(tmp):
    (tmp / "empty").mkdir()
    return _person(tmp / "empty"), [str(tmp / "empty"), "synth-annotation-train.csv"]


@case("no_image_folder", "data root", "annotation CSV present, `train/` folder missing",
      "PersonDataset(root, 'train', cfg.data)", hint=("rename",))
def _(tmp):
    root = write_dataset(tmp / "d")
    import shutil
    shutil.rmtree(root / "train")
    return _person(root), [str(root / "train")]


def _bad_image(tmp, content: Callable[[bytes], bytes]):
    root = write_dataset(tmp / "d")
    name = names_of(root)[3]
    p = root / "train" / name
    p.write_bytes(content(p.read_bytes()))
    return _item(root, 3), [str(p)]


@case("unreadable_image", "images", "an image file that is not an image (text bytes)",
      "PersonDataset(...)[i] (training, sampling)", hint=("cannot read",))
def _(tmp):
    return _bad_image(tmp, lambda b: b"this is not a PNG\n" * 10)


@case("truncated_image", "images", "a PNG cut to half its bytes", "PersonDataset(...)[i]",
      hint=("cannot read",))
def _(tmp):
    return _bad_image(tmp, lambda b: b[: len(b) // 2])


@case("zero_byte_image", "images", "a zero-byte image file", "PersonDataset(...)[i]",
      hint=("cannot read",))
def _(tmp):
    return _bad_image(tmp, lambda b: b"")


def _mode_image(tmp, mode):
    root = write_dataset(tmp / "d")
    name = names_of(root)[2]
    p = root / "train" / name
    Image.open(p).convert(mode).save(p)

    def call():
        from dpiglib.data.validate import validate_dataset

        item = _item(root, 2)()
        assert item["image"].shape == (3, H, W)
        rep = validate_dataset(root, tiny_cfg().data, splits=("train",))
        return "accepted, converted to RGB on load; validate_dataset warns: " + "; ".join(
            str(w) for w in rep.warnings if w.kind == "converted_mode")
    return call, ["converted to RGB"]


@case("grayscale_image", "images", "a grayscale (L) image", "PersonDataset(...)[i]",
      accepted=True)
def _(tmp):
    return _mode_image(tmp, "L")


@case("rgba_image", "images", "an RGBA image (alpha is dropped)", "PersonDataset(...)[i]",
      accepted=True)
def _(tmp):
    return _mode_image(tmp, "RGBA")


@case("wrong_size", "images", "an image of another size (40x20 in a 64x32 dataset)",
      "PersonDataset(...)[i]", hint=("expected 64x32",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = root / "train" / names_of(root)[1]
    Image.open(p).resize((20, 40)).save(p)
    return _item(root, 1), [str(p), "40x20"]


@case("csv_wrong_delimiter", "annotation CSV", "annotation CSV written with commas",
      "PersonDataset(root, 'train', cfg.data)", hint=("':'-separated",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = root / "synth-annotation-train.csv"
    p.write_text(p.read_text().replace(":", ","))
    return _person(root), [str(p), "line 1"]


@case("csv_wrong_columns", "annotation CSV", "header with other columns (`name:x:y`)",
      "PersonDataset(root, 'train', cfg.data)", hint=("expected the header",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = edit_csv_line(root, 1, lambda s: "name:x:y")
    return _person(root), [str(p), "line 1"]


@case("csv_missing_field", "annotation CSV", "a row with only two fields (no x list)",
      "PersonDataset(root, 'train', cfg.data)", hint=("NAME: [y...]: [x...]",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = edit_csv_line(root, 4, lambda s: s.rsplit(":", 1)[0])
    return _person(root), [str(p), "line 4"]


@case("csv_non_numeric", "annotation CSV", "non-numeric keypoints (`[a, b, ...]`)",
      "PersonDataset(root, 'train', cfg.data)", hint=("list of numbers",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = edit_csv_line(root, 3, lambda s: _ys(s, "[" + ", ".join(["a"] * 18) + "]"))
    return _person(root), [str(p), "line 3", "keypoints_y"]


@case("csv_too_few", "annotation CSV", "17 instead of 18 keypoints in a row",
      "PersonDataset(root, 'train', cfg.data)", hint=("expected 18",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = edit_csv_line(root, 5, lambda s: _ys(s, str(list(range(17)))))
    return _person(root), [str(p), "line 5", "17 values"]


@case("csv_nan", "annotation CSV", "NaN among the keypoints", "PersonDataset(root, 'train', cfg.data)",
      hint=("NaN",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = edit_csv_line(root, 2, lambda s: _ys(s, "[NaN" + ", 1" * 17 + "]"))
    return _person(root), [str(p), "line 2", "keypoints_y"]


@case("keypoint_outside", "annotation CSV", "a visible keypoint outside the image (y = 80 at H = 64)",
      "PersonDataset(root, 'train', cfg.data)", hint=("clip",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = edit_csv_line(root, 6, lambda s: _ys(s, "[80" + ", 10" * 17 + "]"))
    return _person(root), [str(p), "line 6", "keypoint 0"]


@case("all_missing", "annotation CSV", "every keypoint of every row missing (-1)",
      "PersonDataset(root, 'train', cfg.data)", hint=("keypoint",))
def _(tmp):
    root = write_dataset(tmp / "d")
    p = root / "synth-annotation-train.csv"
    lines = p.read_text().splitlines()
    m = "[" + ", ".join(["-1"] * 18) + "]"
    p.write_text("\n".join([lines[0]] + [f"{ln.split(':')[0]}: {m}: {m}" for ln in lines[1:]]) + "\n")
    return _person(root), [str(p)]


@case("duplicate_name", "annotation CSV", "the same image name on two rows",
      "PersonDataset(root, 'train', cfg.data)", hint=("unique", "duplicate"))
def _(tmp):
    root = write_dataset(tmp / "d")
    first = names_of(root)[0]
    p = edit_csv_line(root, 4, lambda s: first + ":" + s.split(":", 1)[1])
    return _person(root), [str(p), "line 4", "line 2", first]


@case("pair_unknown_name", "pairs CSV", "a pair naming an image with no annotation row",
      "PairDataset(root, 'train', cfg.data)", hint=("has no row",))
def _(tmp):
    from dpiglib.data.datasets import PairDataset

    root = write_dataset(tmp / "d")
    p = root / "synth-pairs-train.csv"
    p.write_text(p.read_text() + "0000_train_000.png,ghost_0001.png\n")
    return lambda: PairDataset(root, "train", tiny_cfg().data), [str(p), "line 6", "ghost_0001.png"]


@case("pair_missing_file", "pairs CSV", "a pair whose image is annotated but its file is gone",
      "PairDataset(root, 'train', cfg.data)", hint=("missing from",))
def _(tmp):
    from dpiglib.data.datasets import PairDataset

    root = write_dataset(tmp / "d")
    gone = names_of(root)[5]
    (root / "train" / gone).unlink()
    return (lambda: PairDataset(root, "train", tiny_cfg().data)), [gone, str(root / "train")]


@case("pairs_wrong_columns", "pairs CSV", "pairs CSV without `from,to` columns",
      "PairDataset(root, 'train', cfg.data)", hint=("expected columns",))
def _(tmp):
    from dpiglib.data.datasets import PairDataset

    root = write_dataset(tmp / "d")
    p = root / "synth-pairs-train.csv"
    p.write_text("source;target\na;b\n")
    return lambda: PairDataset(root, "train", tiny_cfg().data), [str(p), "line 1"]


@case("ckpt_other_preset", "checkpoints", "resuming a run whose checkpoint is of another preset (market)",
      "train_stage1(cfg, data_root, run_dir)", hint=("another run directory", "config it was trained"),
      error="CheckpointError")
def _(tmp):
    from dpiglib.core.checkpoint import checkpoint_header, save_checkpoint
    from dpiglib.config import get_preset
    from dpiglib.training.stage1 import train_stage1

    root = write_dataset(tmp / "d")
    p = tmp / "run" / "stage1" / "checkpoints" / "latest.pt"
    save_checkpoint(p, checkpoint_header("stage1", get_preset("market"), 100))
    return (lambda: train_stage1(tiny_cfg(), root, tmp / "run", device="cpu", progress=False),
            [str(p), "model.width", "preset 'market'"])


@case("ckpt_truncated", "checkpoints", "a checkpoint file cut to half its bytes",
      "load_stage1(path)", hint=("step_", "delete"), error="CheckpointError")
def _(tmp):
    from dpiglib.training.stage1 import load_stage1

    run = trained_run(tmp)
    p = run / "run" / "stage1" / "checkpoints" / "latest.pt"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    return lambda: load_stage1(p), [str(p)]


@case("ckpt_all_truncated", "checkpoints", "resuming a run whose every checkpoint is truncated",
      "train_stage1(cfg, data_root, run_dir)", hint=("delete them",), error="CheckpointError")
def _(tmp):
    from dpiglib.training.stage1 import train_stage1

    run = trained_run(tmp)
    d = run / "run" / "stage1" / "checkpoints"
    for p in d.glob("*.pt"):
        p.write_bytes(p.read_bytes()[:1000])
    return (lambda: train_stage1(tiny_cfg(stage1_steps=2), run / "data", run / "run", device="cpu",
                                 progress=False), [str(d), "latest.pt"])


@case("stage2_wrong_stage1", "checkpoints", "a Stage-II checkpoint loaded with another Stage-I",
      "load_stage2(run_dir, stage1=other_run)", hint=("retrain",), error="CheckpointError")
def _(tmp):
    from dpiglib.training.stage1 import train_stage1
    from dpiglib.training.stage2 import load_stage2

    run = trained_run(tmp)
    other = tmp / "other"
    cfg = tiny_cfg(seed=1)  # other initial weights
    for model in ("image", "pose"):
        train_stage1(cfg, run / "data", other, device="cpu", model=model, progress=False)
    ck = run / "run" / "stage2" / "checkpoints" / "latest.pt"
    return lambda: load_stage2(run / "run", stage1=other), [str(ck), "Stage-I"]


@case("unknown_preset", "parameters", "an unknown preset name", "get_preset('synth-small')",
      hint=("valid presets",), error="ConfigError")
def _(tmp):
    from dpiglib.config import get_preset
    return lambda: get_preset("synth-small"), ["'synth-small'", "synth-tiny"]


@case("unknown_parameter", "parameters", "an unknown parameter name (a typo)",
      "get_preset('synth-tiny', stage1_step=10)", hint=("valid names",), error="ConfigError")
def _(tmp):
    from dpiglib.config import get_preset
    return lambda: get_preset("synth-tiny", stage1_step=10), ["'stage1_step'", "stage1_steps"]


@case("wrong_type", "parameters", "a parameter of the wrong type",
      "get_preset('synth-tiny', stage1_steps='many')", hint=("expects int",), error="ConfigError")
def _(tmp):
    from dpiglib.config import get_preset
    return lambda: get_preset("synth-tiny", stage1_steps="many"), ["'stage1_steps'", "'many'"]


@case("wrong_choice", "parameters", "a value outside a parameter's choices",
      "get_preset('synth-tiny', stage2_objective='wgan')", hint=("must be one of",),
      error="ConfigError")
def _(tmp):
    from dpiglib.config import get_preset
    return lambda: get_preset("synth-tiny", stage2_objective="wgan"), ["'stage2_objective'"]


@case("nan_parameter", "NaN", "NaN as a numeric parameter", "get_preset('synth-tiny', stage1_lr=nan)",
      hint=("not NaN",), error="ConfigError")
def _(tmp):
    from dpiglib.config import get_preset
    return lambda: get_preset("synth-tiny", stage1_lr=float("nan")), ["'stage1_lr'"]


@case("nan_target_pose", "NaN", "NaN in a target pose given to the sampler",
      "Sampler.pose_transfer(src, rcv_with_nan)", hint=("NaN",), error="ValueError")
def _(tmp):
    import torch

    from dpiglib.sampling.sampler import Sampler

    run = trained_run(tmp)
    s = Sampler.from_run_dir(run / "run", device="cpu", data_root=run / "data")
    from dpiglib.data.datasets import PersonDataset
    src = PersonDataset(run / "data", "test", s.cfg.data, flip=False)[0]
    bad = torch.from_numpy(RCV.copy())[None]
    bad[0, 4, 0] = float("nan")
    return lambda: s.pose_transfer(src, bad), ["pose"]


@case("nan_heatmap_input", "NaN", "NaN in keypoints passed to the pose functions",
      "pose_heatmap(rcv, (64, 32))", hint=("NaN",), error="ValueError")
def _(tmp):
    from dpiglib.data.pose import pose_heatmap

    bad = RCV.copy()
    bad[0, 0] = np.nan
    return lambda: pose_heatmap(bad, (H, W), 2), ["rcv"]


# --------------------------------------------------------------------------------------------
# Running and the table
# --------------------------------------------------------------------------------------------


@dataclass
class Observation:
    case: Case
    outcome: str  # exception class name, or "accepted"
    message: str  # with the temp folder shown as <tmp>
    raw: str  # the message as raised
    must_name: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # files written before and altered


def _snapshot(tmp: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tmp.rglob("*")) if p.is_file()}


def observe(c: Case, tmp: Path) -> Observation:
    """Build case ``c`` under ``tmp``, make the call, record the outcome."""
    tmp = Path(tmp)
    call, must = c.setup(tmp)
    before = _snapshot(tmp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = call()
            outcome, raw = "accepted", str(result)
        except Exception as exc:  # the point: record whatever the user would see
            outcome, raw = type(exc).__name__, str(exc)
    after = _snapshot(tmp)
    changed = [p for p, h in before.items() if after.get(p) != h]
    msg = raw.replace(str(tmp.resolve()), "<tmp>").replace(str(tmp), "<tmp>")
    msg = re.sub(r"\b[0-9a-f]{16}…", "<sha256>…", msg)  # weight fingerprints vary by platform
    return Observation(c, outcome, msg, raw, must, changed)


def _md(text: str, limit: int = 400) -> str:
    """A table cell: pipes escaped, one line, long messages (name lists) shortened."""
    text = text.replace("\n", " ")
    if len(text) > limit:
        text = text[:limit] + " …"
    return text.replace("|", "\\|")


def render(observations: list[Observation]) -> str:
    lines = [
        "# Robustness: bad input and faults",
        "",
        "Generated by `python scripts/robustness_table.py` (do not edit by hand); "
        "`tests/test_bad_input.py` runs every row and fails if a message stops naming the file, "
        "line or parameter, or if a file written before the call changed. `<tmp>` stands for the "
        "folder the case was built in.",
        "",
        "## Bad input",
        "",
        "| case | bad input | met by | outcome | observed message |",
        "|---|---|---|---|---|",
    ]
    for o in observations:
        c = o.case
        lines.append(f"| `{c.id}` | {_md(c.what)} | `{_md(c.entry)}` | {o.outcome} | {_md(o.message)} |")
    lines += [
        "",
        "Every annotation-CSV and image problem is also reported all at once, before training, by "
        "`python -m data_prep.validate ROOT` (`dpiglib.data.validate.validate_dataset`, docs/data.md).",
        "",
        "## Faults",
        "",
        "| fault | what happens | test |",
        "|---|---|---|",
        "| `SIGKILL` of training at random moments, 6 times in a row (one of them halfway through a "
        "checkpoint write), each followed by a resume | every checkpoint file loads with "
        "`weights_only=True` after every kill; the finished run has bit-identical weights, Adam "
        "moments and loss log to an uninterrupted run (CPU); temp files of killed writes are "
        "removed by the next good save | `tests/test_faults.py::test_sigkill_loop_resumes_to_identical_weights` |",
        "| disk full (`ENOSPC`) or read-only file system (`EROFS`) while a run writes a checkpoint "
        "(injected into `dpiglib.core.checkpoint._write_bytes`: the machines run as root, which "
        "ignores permissions) | `CheckpointError: could not write checkpoint <path>: disk full "
        "(...); the previous checkpoint at this path, if any, is unchanged`; the previous "
        "checkpoint stays loadable, no temp file is left, and the run resumes from it after space "
        "is freed to the same final weights | `tests/test_faults.py::test_write_error_in_a_run_reports_and_keeps_previous`, "
        "`tests/test_checkpoint.py::test_failed_write_keeps_previous_checkpoint` |",
        "| every checkpoint of a run unreadable | the trainer refuses to start over (which would "
        "overwrite them) and says to delete them or use another run directory | "
        "`tests/test_faults.py::test_all_checkpoints_unreadable_refuses_to_restart` |",
        "| NaN/inf loss or parameters during training | `NonFiniteLossError` naming the loss and "
        "step; the last good checkpoint is kept, a non-finite model is never saved | "
        "`tests/test_stage1.py::test_nan_guard_keeps_last_good_checkpoint` |",
        "| `dpig run` interrupted between notebooks (Ctrl-C, crash) | `pipeline_state.json` marks "
        "the notebook interrupted; rerunning the same command resumes at that notebook; changed "
        "parameters need `--force` | `tests/test_pipeline.py::test_interrupted_run_resumes_and_parameter_changes_need_force` |",
        "",
        "## Safety",
        "",
        "- Checkpoints are plain dicts of tensors and Python scalars, loaded with "
        "`torch.load(weights_only=True)`; nothing is unpickled from user files (the CSV/JSON "
        "readers parse text). `tests/test_checkpoint.py::test_roundtrip_weights_only_full_state`.",
        "- No network access at run time: `tests/test_no_network.py` runs data generation, "
        "Stage-I, Stage-II, sampling and evaluation with sockets, `urllib`, `torch.hub` downloads "
        "and `requests` patched to fail.",
        "",
        "## The widget in a real browser",
        "",
        "`tests/test_browser.py` starts JupyterLab on 127.0.0.1 over a trained tiny run, opens "
        "`04_sampling_explorer.ipynb` in headless Chromium (Debian's `chromium`, driven by "
        "Playwright's Python package), runs all cells, moves the `fg seed` slider and the `Δrow` "
        "joint slider, and checks that the explorer image changes each time. Its screenshots are "
        "saved in `artifacts/browser/` (`01_explorer_initial.png`, `02_after_fg_seed.png`, "
        "`03_after_pose_joint.png`, and `*_page.png` of the whole page). Without Chromium or "
        "Playwright it is skipped with that reason; `.ci/run` installs Chromium so CI runs it.",
        "",
    ]
    return "\n".join(lines)


def observe_all(cases: list[Case] | None = None) -> list[Observation]:
    out = []
    with tempfile.TemporaryDirectory(prefix="dpig_robust_") as base:
        for i, c in enumerate(cases or CASES):
            tmp = Path(base) / f"{i:02d}_{c.id}"
            tmp.mkdir()
            out.append(observe(c, tmp))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/robustness.md is stale")
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args(argv)
    text = render(observe_all())
    if args.check:
        same = args.out.is_file() and args.out.read_text() == text
        print("up to date" if same else f"{args.out} is stale: run scripts/robustness_table.py")
        return 0 if same else 1
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
