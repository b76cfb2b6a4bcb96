"""The ``dpig`` console script (also ``python -m dpiglib``): the only place argparse appears.

Not part of the paper. Subcommands (docs/conventions.md, "Command line"):

* ``dpig run``: the numbered notebooks with papermill into a run directory (:mod:`.pipeline`);
* ``dpig sweep``: the pipeline over parameter combinations, one table (:mod:`.sweep`);
* ``dpig train stage1|stage2``: one training stage without notebooks (orig §3.6-3.7, orig §4.3);
* ``dpig evaluate``, ``dpig transfer``: metrics and pose transfer from a trained run.
* ``dpig pretrained list|build``: the shipped pretrained models; rebuild one from its recipe.

Every command validates its arguments before doing work and exits non-zero with a one-line
reason (exit 2: invalid arguments; exit 1: the work itself failed). Heavy imports (torch,
papermill) happen inside the handlers so ``dpig --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Sequence

from dpiglib.config import PRESET_NAMES, ConfigError

__all__ = ["main", "build_parser"]

# dpiglib.metrics.io.GENERATED_NAME_PATTERN, spelled out here so `dpig --help` imports no torch
# (tests/test_cli.py checks the two agree)
_GENERATED_NAMES = ("FROM___TO.png or FROM.jpg___TO.jpg.png (FROM, TO: the pairs list's "
                    "image names, without or with their extension)")


class CliError(Exception):
    """A one-line reason to stop (exit code 2 unless given)."""

    def __init__(self, msg: str, code: int = 2):
        super().__init__(msg)
        self.code = code


# --------------------------------------------------------------------------------------------
# Parameters shared by the subcommands
# --------------------------------------------------------------------------------------------


#: The --device choices of every command.
DEVICE_HELP = "auto (CUDA, then MPS, else CPU), cpu, cuda, cuda:N, mps"

def _add_param_options(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    value_help = ("comma-separated values, one run per combination (a single value fixes it)"
                  if sweep else "typed like papermill's -p: True/False/None, int, float, else str")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help=f"set a parameter; {value_help}")
    p.add_argument("-f", "--parameters-file", action="append", default=[], metavar="YAML",
                   help="YAML file of NAME: VALUE" + (" (a list makes a sweep axis)" if sweep
                                                      else "") + "; -p wins over it")
    p.add_argument("--preset", choices=None, metavar="NAME",
                   help=f"one of {', '.join(PRESET_NAMES)} (default: synth on CUDA, else "
                        "synth-tiny; with real data, the dataset's preset)")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--seed", type=int, help="the run's one seed (same as -p seed N)")
    p.add_argument("--data-root", metavar="DIR",
                   help="dataset folder in the kit's format (default: RUN_DIR/data, SynthPerson)")


def _gather_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """-f files, then -p pairs, then the dedicated options (--device/--seed/--data-root)."""
    from dpiglib.pipeline.runner import CliValue, load_params_file

    params: dict[str, Any] = {}
    for path in args.parameters_file:
        params.update(load_params_file(path))
    for name, value in args.parameter:
        params[name] = CliValue(value)
    for name, value in (("device", args.device), ("seed", args.seed),
                        ("data_root", args.data_root)):
        if value is not None:
            params[name] = value
    return params


def _check_preset(preset: str | None) -> None:
    if preset is not None and preset not in PRESET_NAMES:
        raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESET_NAMES)}")


# --------------------------------------------------------------------------------------------
# dpig run / dpig sweep
# --------------------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from dpiglib.pipeline.runner import plan_pipeline, read_state, run_pipeline

    _check_preset(args.preset)
    params = _gather_parameters(args)
    preset = args.preset
    if args.resume:
        if args.out is None:
            raise CliError("--resume needs --out RUN_DIR")
        state = read_state(args.out)
        if state is None:
            raise CliError(f"--resume: {args.out} holds no pipeline run (no pipeline_state.json)")
        stored = state["parameters"]
        params = {**stored["overrides"], "device": stored["device_requested"],
                  "data_root": stored["data_root_given"], **params}
        preset = preset or stored["preset"]
    from dpiglib.pretrained.registry import ReservedSeedWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ReservedSeedWarning)  # once per command, every time
        plan = plan_pipeline(args.out or "runs/_", preset, params, args.notebooks,
                             args.only.split(",") if args.only else None)
    for w in caught:
        if issubclass(w.category, ReservedSeedWarning):
            print(f"dpig run: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if args.out is None:  # default run directory: runs/<preset>
        plan = dataclasses.replace(plan, run_dir=(Path("runs") / plan.preset).resolve())
    if args.dry_run:
        print(json.dumps({"run_dir": str(plan.run_dir), "parameters": plan.run_parameters(),
                          "per_notebook": {nb.name: plan.parameters_for(nb)
                                           for nb in plan.notebooks}}, indent=2, default=str))
        return 0
    echo = None if args.quiet else print
    summary = run_pipeline(plan, force=args.force, echo=echo, progress_bar=args.progress)
    if summary["status"] != "completed":
        f = summary["failed"]
        where = f"cell {f['cell_index']}" if f.get("cell_index") is not None else "start-up"
        print(f"dpig run: failed in {f['notebook']} at {where}: {f['ename']}: {f['evalue']}",
              file=sys.stderr)
        print(f"Report: {summary['report']}")
        return 1
    print(f"Report: {summary['report']}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from dpiglib.pipeline.runner import CliValue, load_params_file
    from dpiglib.pipeline.sweep import parse_axes, plan_sweep, run_sweep

    _check_preset(args.preset)
    if args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    axes: dict[str, list[Any]] = {}
    fixed: dict[str, Any] = {}
    for path in args.parameters_file:
        for name, value in load_params_file(path).items():
            if isinstance(value, list):
                axes[name] = value
            else:
                fixed[name] = value
    for name, values in parse_axes(args.parameter).items():
        axes.pop(name, None)
        fixed.pop(name, None)
        if len(values) > 1:
            axes[name] = values
        else:
            fixed[name] = CliValue(values[0])
    for name, value in (("device", args.device), ("seed", args.seed),
                        ("data_root", args.data_root)):
        if value is not None:
            fixed[name] = value
    if not axes and fixed:  # one combination: still a (one-row) sweep
        name = next(iter(fixed))
        axes[name] = [fixed.pop(name)]
    only = args.only.split(",") if args.only else None
    runs = plan_sweep(args.out, axes, args.preset, fixed, args.notebooks, only)  # validates all
    if args.dry_run:
        for name, combo, plan in runs:
            print(name, {k: str(v) for k, v in combo.items()}, plan.preset, plan.device)
        return 0
    df = run_sweep(args.out, axes, args.preset, fixed, args.notebooks, args.jobs, only,
                   args.force, echo=None if args.quiet else print)
    bad = df[df["status"] != "completed"]
    for _, row in bad.iterrows():
        where = (f"{row['failed_notebook']} cell {int(row['failed_cell'])}"
                 if row.get("failed_cell") == row.get("failed_cell") and row.get("failed_notebook")
                 else row.get("failed_notebook") or "start-up")
        print(f"dpig sweep: {row['run']} {row['status']} in {where}: {row['error']}",
              file=sys.stderr)
    print(f"Sweep table: {Path(args.out).resolve() / 'sweep.csv'}")
    return 1 if len(bad) else 0


# --------------------------------------------------------------------------------------------
# dpig train / evaluate / transfer: thin wrappers over library functions
# --------------------------------------------------------------------------------------------


def _library_function(module: str, name: str, what: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise CliError(f"{what} is not available yet ({module}.{name} cannot be imported: "
                       f"{exc})") from None


def _call(fn, **kwargs: Any) -> Any:
    """Call ``fn`` with the keywords it accepts; a missing required one is a clear error."""
    sig = inspect.signature(fn)
    accepted = {k: v for k, v in kwargs.items() if k in sig.parameters}
    missing = [n for n, p in sig.parameters.items() if p.default is inspect.Parameter.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in accepted]
    if missing:
        raise CliError(f"{fn.__module__}.{fn.__name__} needs {', '.join(missing)}, which this "
                       "command does not provide; update dpiglib/cli.py")
    return fn(**accepted)


def _stage_config(args: argparse.Namespace):
    """Validate preset, overrides, device and data for ``train``; return (cfg, device, data_root).

    Inside an existing run directory the stored ``config.json`` is the base (so ``dpig train``
    continues what ``dpig run`` started) and its preset is the default.
    """
    from dpiglib.config import get_preset, resolve_run_config
    from dpiglib.pipeline.runner import resolve_device_name

    _check_preset(args.preset)
    params = _gather_parameters(args)
    device = resolve_device_name(str(params.pop("device", "auto")))
    data_root = str(params.pop("data_root", "") or "")
    unknown_shared = sorted(set(params) & {"preset", "run_dir"})
    if unknown_shared:
        raise CliError(f"use --preset/--out instead of -p {', '.join(unknown_shared)}")
    stored = Path(args.out) / "config.json"
    stored_preset = None
    if stored.is_file():
        try:
            data = json.loads(stored.read_text())
            stored_preset = (data.get("config") or data).get("preset")
        except (ValueError, AttributeError):
            raise CliError(f"{stored} is not a valid dpiglib config; use another --out") from None
    preset = args.preset or stored_preset or (
        "synth" if device.startswith("cuda") else "synth-tiny")
    overrides = {k: str(v) for k, v in params.items()}
    cfg = get_preset(preset, **overrides)  # every check, before anything is written
    root = Path(data_root) if data_root else Path(args.out) / "data"
    if cfg.data.dataset != "synth" and not data_root:
        raise CliError(f"preset {preset!r} needs --data-root (a prepared {cfg.data.dataset} "
                       "dataset)")
    if not (root.is_dir() and any(root.glob("*-annotation-train.csv"))):
        raise CliError(f"data root {str(root)!r} holds no *-annotation-train.csv; prepare the data "
                       "first (notebook 01, or `dpig run --only 01`)")
    cfg = resolve_run_config(preset, args.out, **overrides)  # writes RUN_DIR/config.json
    return cfg, device, str(root)


def _cmd_train(args: argparse.Namespace) -> int:
    cfg, device, data_root = _stage_config(args)
    common = dict(cfg=cfg, data_root=data_root, out_dir=args.out, device=device,
                  resume=not args.restart, max_steps=args.max_steps, progress=not args.quiet)
    if args.stage == "stage1":
        fn = _library_function("dpiglib.training.stage1", "train_stage1", "dpig train stage1")
        for model in (["image", "pose"] if args.model == "both" else [args.model]):
            _print_result(f"stage1/{model}", _call(fn, model=model, **common))
    else:
        fn = _library_function("dpiglib.training.stage2", "train_stage2", "dpig train stage2")
        factors = args.factors.split(",") if args.factors else None
        _print_result("stage2", _call(fn, factors=factors, stage1_run=args.stage1_run, **common))
    return 0


def _print_result(label: str, result: Any) -> None:
    if isinstance(result, dict):
        shown = {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
        print(f"{label}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    """Generate + score a run's test pairs, or score another method's folder (--generated)."""
    from dpiglib.pipeline.runner import resolve_device_name

    device = resolve_device_name(args.device or "auto")
    protocols = args.protocols.split(",") if args.protocols else None
    metrics = args.metrics.split(",") if args.metrics else None
    if args.generated:
        if not args.data_root:
            raise CliError("--generated needs --data-root (the dataset whose pairs and targets "
                           "the images answer)")
        if not Path(args.generated).is_dir():
            raise CliError(f"--generated {args.generated!r} is not a folder; give the folder of "
                           f"outputs named {_GENERATED_NAMES}")
        fn = _library_function("dpiglib.metrics.evaluation", "evaluate_folder", "dpig evaluate")
        from dpiglib.data.annotations import DatasetError
        from dpiglib.metrics.io import MissingImageError, UnreadableImageError

        out = Path(args.out) if args.out else Path(args.generated).parent / "eval"
        try:
            result = fn(args.generated, args.data_root, split=args.split,
                        protocols=protocols or ("dpig", "clean"), pairs=args.pairs_csv,
                        max_pairs=args.pairs, device=device, weights_dir=args.weights_dir,
                        out_path=out / "metrics.json", metrics=metrics)
        except (MissingImageError, UnreadableImageError, DatasetError) as exc:
            raise CliError(str(exc)) from None
    else:
        if not args.run:
            raise CliError("give --run RUN_DIR (generate and score a trained run) or "
                           "--generated DIR --data-root ROOT (score a folder of outputs)")
        run = Path(args.run)
        if not (run / "stage1").is_dir():
            raise CliError(f"{run} holds no trained model (no stage1/ folder); train it first")
        fn = _library_function("dpiglib.metrics.evaluation", "evaluate_run", "dpig evaluate")
        result = _call(fn, run_dir=str(run), protocols=protocols, data_root=args.data_root or "",
                       device=device, max_pairs=args.pairs, weights_dir=args.weights_dir,
                       out_dir=args.out or str(run / "eval"), split=args.split, metrics=metrics,
                       progress=True)
        out = Path(args.out or run / "eval")
    for proto, block in (result or {}).get("protocols", {}).items():
        for name, m in block["metrics"].items():
            shown = f"{m['value']:.4f} (n={m['count']})" if m.get("available") else \
                f"unavailable: {m.get('reason', '')}"
            print(f"{proto:6s} {name:18s} {shown}  [{m['label']}]")
    print(f"Metrics: {(out / 'metrics.json').resolve()}")
    return 0


def _cmd_transfer(args: argparse.Namespace) -> int:
    """Pose transfer (orig §5 item 1): a photo's or a dataset image's person in another pose.

    The work is :func:`dpiglib.photos.transfer.photo_transfer` (also behind notebook 04); this wrapper
    checks the arguments (run, names, files, MediaPipe, a person in each photo) before loading
    any model.
    """
    from dpiglib.config import config_from_dict
    from dpiglib.pipeline.runner import resolve_device_name

    run = Path(args.run)
    config_file = run / "config.json"
    if not (run / "stage1").is_dir() or not config_file.is_file():
        raise CliError(f"{run} holds no trained model (needs config.json and stage1/)")
    data = json.loads(config_file.read_text())
    cfg = config_from_dict(data.get("config", data))
    device = resolve_device_name(args.device or "auto")
    from dpiglib.photos import transfer
    from dpiglib.data.prepare import dataset_root

    try:
        root = dataset_root(cfg, run, args.data_root or "")
    except ConfigError:  # a real-data run without --data-root: photos and `sampled` still work
        root = None
    labels = ("--source", "--target")
    inputs = [args.source, args.target]
    try:  # names, files, MediaPipe and the photos' people: one line each, before any model
        kinds = [kind for kind, _ in transfer.resolve_transfer_inputs(
            args.source, args.target, root, args.split, cfg.data.dataset, labels)]
        if "photo" in kinds:
            from dpiglib.photos.estimator import MediaPipePoseEstimator

            with MediaPipePoseEstimator() as est:
                inputs = [transfer.person_from_photo(x, cfg.data.image_size, est)
                          if k == "photo" else x for x, k in zip(inputs, kinds)]
    except (transfer.PhotoInputError, ImportError) as exc:
        raise CliError(str(exc)) from None
    from dpiglib.data.annotations import DatasetError
    from dpiglib.core.checkpoint import CheckpointError
    from dpiglib.sampling.sampler import Sampler, Stage2MissingError

    try:
        sampler = Sampler.from_run_dir(run, device, args.data_root or "",
                                       stage2=None if kinds[1] == "sampled" else False)
        result = transfer.photo_transfer(sampler, *inputs, data_root=root, split=args.split,
                                       seed=args.seed, labels=labels)
    except (transfer.PhotoInputError, Stage2MissingError, CheckpointError, DatasetError) as exc:
        raise CliError(str(exc)) from None
    result.save(args.out)
    print(f"Image (source | target pose | generated): {args.out}")
    return 0


def _cmd_pretrained(args: argparse.Namespace) -> int:
    """``dpig pretrained list`` and ``dpig pretrained build NAME --out DIR``."""
    from dpiglib.config import PRETRAINED_RECIPES
    from dpiglib.pretrained.registry import WEIGHTS_DIR, PretrainedError, list_pretrained

    if args.action == "list":
        names = list_pretrained()
        if not names:
            print(f"no pretrained models shipped in {WEIGHTS_DIR}; build one with "
                  f"`dpig pretrained build NAME --out DIR` (recipes: "
                  f"{', '.join(PRETRAINED_RECIPES)})")
        for name in names:
            try:
                doc = json.loads((WEIGHTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
                ratios = doc.get("ratios") or {}
                shown = ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()
                                  if isinstance(v, (int, float)))
                mb = sum(f.get("bytes", 0) for f in (doc.get("files") or {}).values()) / 2**20
                print(f"{name}: {mb:.1f} MB, seed {doc.get('seed')}"
                      + (f", held-out ratios: {shown}" if shown else ""))
            except (OSError, ValueError, AttributeError, TypeError):
                print(f"{name}: (manifest unreadable)")
        return 0
    if args.name not in PRETRAINED_RECIPES:
        raise CliError(f"unknown pretrained model {args.name!r}; recipes: "
                       f"{', '.join(PRETRAINED_RECIPES)}")
    from dpiglib.pipeline.runner import resolve_device_name

    resolve_device_name(args.device)  # an unavailable device: one line before any work
    from dpiglib.core.checkpoint import CheckpointError
    from dpiglib.pretrained.build import build_pretrained

    try:
        res = build_pretrained(args.name, args.out, device=args.device,
                               progress=not args.quiet, export_to=args.export_to)
    except (PretrainedError, CheckpointError) as exc:
        raise CliError(str(exc), code=1) from None
    ratios = ", ".join(f"{k} {v:.3f}" for k, v in (res["ratios"] or {}).items())
    print(f"held-out ratios: {ratios}")
    print(f"Pretrained model: {res['files'][0]} (+ .json); ship it by copying both files into "
          f"{WEIGHTS_DIR}")
    return 0


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dpig", description="Disentangled Person Image Generation (DPIG) kit: run the "
        "notebook pipeline, sweeps, training stages and evaluation.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="execute the numbered notebooks into a run directory",
                         description="Execute notebooks/NN_*.ipynb in order with papermill into "
                         "RUN_DIR (executed notebooks, logs, config.json, summary.json, "
                         "report.md). Rerunning the same command resumes an interrupted run.")
    _add_param_options(run)
    run.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/<preset>)")
    run.add_argument("--notebooks", metavar="DIR", help="notebook folder (default: the repo's)")
    run.add_argument("--only", metavar="NN,..", help="run only notebooks with these prefixes")
    run.add_argument("--resume", action="store_true",
                     help="reuse the parameters recorded in RUN_DIR (given ones must agree)")
    run.add_argument("--force", action="store_true",
                     help="forget the recorded state and run every notebook again")
    run.add_argument("--dry-run", action="store_true", help="print the validated plan and exit")
    run.add_argument("--progress", action="store_true", help="papermill's per-cell progress bar")
    run.add_argument("--quiet", action="store_true", help="print only the report path")
    run.set_defaults(handler=_cmd_run)

    sw = sub.add_parser("sweep", help="run the pipeline over parameter combinations",
                        description="dpig sweep -p stage1_steps 200,400 -p seed 0,1 --out DIR: "
                        "one run directory per combination, then DIR/sweep.csv and sweep.png. "
                        "A failed run is reported with its notebook and cell; the others finish.")
    _add_param_options(sw, sweep=True)
    sw.add_argument("--out", metavar="SWEEP_DIR", required=True, help="sweep directory")
    sw.add_argument("--jobs", type=int, default=1, help="runs at once (default 1: sequential)")
    sw.add_argument("--notebooks", metavar="DIR", help="notebook folder (default: the repo's)")
    sw.add_argument("--only", metavar="NN,..", help="run only notebooks with these prefixes")
    sw.add_argument("--force", action="store_true", help="rerun every combination from scratch")
    sw.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    sw.add_argument("--quiet", action="store_true", help="print only the table path")
    sw.set_defaults(handler=_cmd_sweep)

    train = sub.add_parser("train", help="train one stage without notebooks")
    stages = train.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, text in (("stage1", "Stage-I: image auto-encoder GAN and pose auto-encoder"),
                        ("stage2", "Stage-II: mapping networks on Stage-I embeddings")):
        sp = stages.add_parser(stage, help=text, description=text + " (writes RUN_DIR/" + stage
                               + "/: log.csv, samples, checkpoints).")
        _add_param_options(sp)
        sp.add_argument("--out", metavar="RUN_DIR", required=True, help="run directory")
        if stage == "stage1":
            sp.add_argument("--model", choices=("image", "pose", "both"), default="both",
                            help="which Stage-I model (default both: image, then pose)")
        else:
            sp.add_argument("--factors", metavar="F,..",
                            help="subset of fg,bg,pose (DeepFashion: app,pose); default all")
            sp.add_argument("--stage1-run", metavar="DIR",
                            help="run directory holding the Stage-I checkpoints (default --out)")
        sp.add_argument("--max-steps", type=int, help="stop after this many total steps")
        sp.add_argument("--restart", action="store_true",
                        help="ignore existing checkpoints (default: resume from the newest)")
        sp.add_argument("--resume", action="store_true",
                        help="resume from the newest checkpoint (the default; kept for clarity)")
        sp.add_argument("--quiet", action="store_true", help="no progress bar")
        sp.set_defaults(handler=_cmd_train)

    ev = sub.add_parser("evaluate", help="score a trained run (SSIM, FID, ... per protocol)")
    ev.add_argument("--run", metavar="RUN_DIR", help="trained run directory")
    ev.add_argument("--generated", metavar="DIR",
                    help="instead of --run: score this folder of another method's outputs "
                    "against --data-root's pairs and targets; one output per pair, named "
                    f"{_GENERATED_NAMES}, e.g. a___b.png or "
                    "a.jpg___b.jpg.png for the pair a.jpg,b.jpg")
    ev.add_argument("--data-root", metavar="DIR", help="dataset root (default: the run's data)")
    ev.add_argument("--pairs-csv", metavar="CSV", help="with --generated: pairs list (default: "
                    "the dataset's {prefix}-pairs-{split}.csv)")
    ev.add_argument("--split", default="test", help="dataset split (default test)")
    ev.add_argument("--protocols", help="comma-separated metric presets (default: the config's)")
    ev.add_argument("--metrics", help="comma-separated metric subset, e.g. ssim,mask_ssim")
    ev.add_argument("--pairs", type=int, help="test pairs scored (default: the config's)")
    ev.add_argument("--weights-dir", metavar="DIR", help="user-provided metric weights")
    ev.add_argument("--device", help=DEVICE_HELP)
    ev.add_argument("--out", metavar="DIR", help="output folder (default RUN_DIR/eval)")
    ev.set_defaults(handler=_cmd_evaluate)

    tr = sub.add_parser("transfer", help="pose transfer: a person rendered in another pose",
                        description="Render the --source person in the --target pose with a "
                        "trained Stage-I model (orig §5). --source: a photo file (keypoints "
                        "detected with MediaPipe, the optional photos extra; cropped to the "
                        "run's image size) or an image name of the run's dataset. --target: a "
                        "photo file, an image name, or 'sampled' (a pose drawn from the run's "
                        "Stage-II pose mapping). Image names win over files of the same name.")
    tr.add_argument("--run", metavar="RUN_DIR", required=True, help="trained run directory")
    tr.add_argument("--source", required=True, metavar="PHOTO|NAME",
                    help="photo file or dataset image name giving the person")
    tr.add_argument("--target", required=True, metavar="PHOTO|NAME|sampled",
                    help="photo file, dataset image name, or 'sampled', giving the pose")
    tr.add_argument("--split", default="test", help="dataset split of image names (default test)")
    tr.add_argument("--data-root", metavar="DIR", help="dataset (default: the run's own data)")
    tr.add_argument("--seed", type=int, default=0, help="seed of a sampled target pose (default 0)")
    tr.add_argument("--out", required=True, help="output PNG: source | target | generated")
    tr.add_argument("--device", help=DEVICE_HELP)
    tr.set_defaults(handler=_cmd_transfer)

    pt = sub.add_parser("pretrained", help="list the shipped pretrained models, or rebuild one",
                        description="Pretrained models: NAME.safetensors (fp16 weights) + "
                        "NAME.json (config, command, steps, machine, held-out ratios).")
    acts = pt.add_subparsers(dest="action", metavar="ACTION", required=True)
    pl = acts.add_parser("list", help="names of the pretrained models shipped with dpiglib",
                         description="Print the pretrained models shipped in "
                         "dpiglib/pretrained/weights/ (load one with dpiglib.load_pretrained).")
    pl.set_defaults(handler=_cmd_pretrained)
    pb = acts.add_parser("build", help="train a pretrained model from its recipe and export it",
                         description="Render the recipe's SynthPerson data into DIR/data, train "
                         "Stage-I, the pose auto-encoder and Stage-II into the run directory DIR "
                         "(resumes: rerun the same command after an interruption), then write "
                         "NAME.safetensors and NAME.json (with held-out ratios) into "
                         "--export-to (default DIR/export).")
    pb.add_argument("name", metavar="NAME", help="recipe name (dpiglib.config.PRETRAINED_RECIPES,"
                    " e.g. synth-tiny)")
    pb.add_argument("--out", metavar="DIR", required=True, help="run directory (resumable)")
    pb.add_argument("--device", default="auto", help=DEVICE_HELP)
    pb.add_argument("--export-to", metavar="DIR", help="folder for NAME.safetensors and "
                    "NAME.json (default DIR/export)")
    pb.add_argument("--quiet", action="store_true", help="no progress bars")
    pb.set_defaults(handler=_cmd_pretrained)
    return parser


def _pretrained_error() -> type:
    from dpiglib.pretrained.registry import PretrainedError  # no torch: cheap

    return PretrainedError


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dpig`` and ``python -m dpiglib``; returns the exit code."""
    args = build_parser().parse_args(argv)
    previous = None
    if args.command in ("run", "sweep") and threading.current_thread() is threading.main_thread():
        # `kill PID` (SIGTERM) stops a run like Ctrl-C: the state records the interrupted
        # notebook, so the same command resumes there.
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, CliError, _pretrained_error()) as exc:
        msg = " ".join(str(exc).split())  # one line
        print(f"dpig {args.command}: error: {msg}", file=sys.stderr)
        return getattr(exc, "code", 2)
    except KeyboardInterrupt:
        print(f"dpig {args.command}: interrupted; rerun the same command to resume",
              file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
