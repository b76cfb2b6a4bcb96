"""The notebook pipeline: the numbered notebooks executed with papermill into one run directory.

Not part of the paper: this is the kit's way of running the whole DPIG recipe (data → Stage-I →
Stage-II → sampling → evaluation, orig §3-§6) as notebooks a reader can open afterwards. Every
notebook has one cell tagged ``parameters`` (docs/conventions.md, "Notebook parameters"); the
runner validates every parameter *before* anything runs, passes each notebook only the names it
declares, records each notebook's status in ``RUN_DIR/pipeline_state.json`` so an interrupted run
resumes at the first notebook not completed, and ends with ``summary.json`` and ``report.md``
(:mod:`dpiglib.pipeline.report`). Sweeps over parameter values live in :mod:`dpiglib.pipeline.sweep`.

Parameter channels: the shared names (``preset``, ``data_root``, ``run_dir``, ``device``,
``seed``), the flat config names of :func:`dpiglib.config.flat_parameters` and the names that
notebooks declare themselves. ``RUN_DIR/config.json`` holds the resolved :class:`RunConfig`
(written first, by :func:`dpiglib.config.write_run_config`), so a config override reaches every
notebook (through :func:`dpiglib.config.resolve_run_config`) even where the notebook does not
declare it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from dpiglib.config import (PRESET_NAMES, ConfigError, RunConfig, config_to_dict, flat_parameters,
                     get_preset, write_run_config)
from dpiglib.core.fileio import atomic_write_json
from dpiglib.pipeline.parameters import (NON_LITERAL, CliValue, NotebookSpec, coerce_like,
                                         default_notebook_dir, discover_notebooks,
                                         load_params_file, notebook_parameters, parse_cli_value)

__all__ = [
    "SHARED_PARAMETERS",
    "NotebookSpec",
    "PipelinePlan",
    "CliValue",
    "default_notebook_dir",
    "discover_notebooks",
    "notebook_parameters",
    "parse_cli_value",
    "load_params_file",
    "plan_pipeline",
    "run_pipeline",
    "read_state",
    "resolve_device_name",
    "valid_parameter_names",
]

SHARED_PARAMETERS = ("preset", "data_root", "run_dir", "device", "seed")
STATE_FILE = "pipeline_state.json"

# --------------------------------------------------------------------------------------------
# Validation: everything is checked before the first notebook starts
# --------------------------------------------------------------------------------------------


def _detect_preset(data_root: Path, device: str) -> str:
    """Choose a preset from the annotation files of a dataset folder."""
    names = [p.name for p in data_root.glob("*-annotation-train.csv")]
    prefixes = {n.split("-annotation-")[0].removesuffix("-resize") for n in names}  # PATN names
    if "market" in prefixes:
        return "market"
    if prefixes & {"fasion", "fashion"}:
        return "deepfashion"
    if "synth" in prefixes:
        return "synth" if device.startswith("cuda") else "synth-tiny"
    raise ConfigError(f"cannot tell the dataset in data_root {str(data_root)!r} (no "
                      "{market,fasion,fashion,synth}-annotation-train.csv); pass --preset")


def resolve_device_name(device: str) -> str:
    """``"auto"`` → ``"cuda"``, ``"mps"`` or ``"cpu"`` (:func:`dpiglib.core.runtime.resolve_device`).

    Raises:
        ConfigError: the device is unknown or not available here (the message says which are).
    """
    if device.strip().lower() == "cpu":
        return "cpu"  # no torch import: keeps `dpig run --device cpu` start-up quick
    from dpiglib.core.runtime import resolve_device

    try:
        return str(resolve_device(device))
    except ValueError as exc:
        raise ConfigError(f"parameter 'device': {exc}") from exc


@dataclass(frozen=True)
class PipelinePlan:
    """A fully validated pipeline run; :func:`plan_pipeline` builds it.

    Attributes:
        run_dir: absolute run directory.
        preset: preset name; ``config`` is that preset with the overrides applied.
        data_root: the dataset folder as given ("" = ``RUN_DIR/data``).
        device: the resolved device (``"cpu"``, ``"cuda"``, ``"mps"``); ``device_requested`` is
            what was asked for (``"auto"``).
        config_overrides: flat config names → values, as given (already type-checked).
        notebook_overrides: notebook-only names → coerced values.
        notebooks: the notebooks to run, in order.
    """

    run_dir: Path
    preset: str
    data_root: str
    device: str
    device_requested: str
    config: RunConfig
    config_overrides: Mapping[str, Any]
    notebook_overrides: Mapping[str, Any]
    notebooks: tuple[NotebookSpec, ...]

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def data_path(self) -> Path:
        """The run's dataset folder, absolute (notebooks receive ``""`` for ``RUN_DIR/data``)."""
        return Path(self.data_root).resolve() if self.data_root else self.run_dir / "data"

    def shared_values(self) -> dict[str, Any]:
        # "" stays "": the notebooks read it as "the run's own RUN_DIR/data" (dpiglib.data.prepare)
        data_root = str(Path(self.data_root).resolve()) if self.data_root else ""
        return {"preset": self.preset, "data_root": data_root,
                "run_dir": str(self.run_dir), "device": self.device, "seed": self.seed}

    def parameters_for(self, nb: NotebookSpec) -> dict[str, Any]:
        """The values injected into ``nb``: only the names its parameters cell declares.

        Shared names get the run's values, flat config names the resolved config's value (so the
        notebook agrees with ``config.json``), notebook-only names the override when one was given.
        """
        shared = self.shared_values()
        flat = flat_parameters(self.config)
        out: dict[str, Any] = {}
        for name in nb.parameters:
            if name in shared:
                out[name] = shared[name]
            elif name in flat:
                value = flat[name]
                out[name] = list(value) if isinstance(value, tuple) else value
            elif name in self.notebook_overrides:
                out[name] = self.notebook_overrides[name]
        return out

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a resume: preset, data, resolved config, notebook-only values.

        The device and the run directory's location may change between sessions.
        """
        return {"preset": self.preset, "data_root": self.data_root,
                "config": config_to_dict(self.config),
                "notebook_overrides": json.loads(json.dumps(dict(self.notebook_overrides)))}

    def run_parameters(self) -> dict[str, Any]:
        """Run-level parameters as recorded in ``config.json``, the state file and the summary.

        ``overrides`` holds every ``-p``/``-f`` value, typed (``"400"`` typed on a command line
        is recorded as ``400``), so ``dpig run --resume`` can reuse them.
        """
        flat = flat_parameters(self.config)
        return {**self.shared_values(), "device_requested": self.device_requested,
                "data_root_given": self.data_root, "data_path": str(self.data_path),
                "overrides": {**{k: _jsonable(flat[k]) for k in self.config_overrides},
                              **{k: _jsonable(v) for k, v in self.notebook_overrides.items()}},
                "notebooks": [nb.name for nb in self.notebooks]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, CliValue):
        return str(value)
    return json.loads(json.dumps(value, default=str))


def valid_parameter_names(notebooks: Iterable[NotebookSpec] = ()) -> list[str]:
    """Every name ``-p`` accepts: shared, flat config names and names notebooks declare."""
    names = set(SHARED_PARAMETERS) | set(flat_parameters())
    for nb in notebooks:
        names |= set(nb.parameters)
    return sorted(names)


def plan_pipeline(run_dir: str | os.PathLike, preset: str | None = None,
                  parameters: Mapping[str, Any] | None = None,
                  notebook_dir: str | os.PathLike | None = None,
                  only: Iterable[str] | None = None) -> PipelinePlan:
    """Validate a run completely, before any work.

    Args:
        run_dir: the run directory (created later, by :func:`run_pipeline`).
        preset: preset name; None chooses: the dataset found in ``data_root`` if given, else
            ``synth`` on CUDA and ``synth-tiny`` elsewhere (CPU, MPS).
        parameters: ``-f``/``-p`` values: shared names (``data_root``, ``device``, ``seed``,
            ``preset``), flat config names (``stage1_steps``) or names notebooks declare.
            :class:`CliValue` strings are typed by their target.
        notebook_dir: folder of ``NN_*.ipynb`` notebooks (default: the repository's).
        only: run only notebooks whose names start with these prefixes.

    Raises:
        ConfigError: unknown preset or parameter (the message lists the valid names), a wrongly
            typed value, an unavailable device, a ``data_root`` that does not exist, or no
            ``data_root`` for a real-data preset.

    Warns:
        ReservedSeedWarning: the seed is one the pretrained models reserve
            (:func:`dpiglib.pretrained.registry.warn_reserved_seed`).
    """
    params = dict(parameters or {})
    notebooks = discover_notebooks(notebook_dir, only)
    if "run_dir" in params:
        raise ConfigError("parameter 'run_dir' is set by --out, not by -p")
    if params.get("preset") is not None:
        given = str(params.pop("preset"))
        if preset is not None and preset != given:
            raise ConfigError(f"preset given twice: --preset {preset} and -p preset {given}")
        preset = given
    flat = flat_parameters()
    notebook_declared: dict[str, Any] = {}
    for nb in notebooks:
        for name, default in nb.parameters.items():
            if notebook_declared.get(name, NON_LITERAL) in (None, NON_LITERAL):
                notebook_declared[name] = default
    unknown = sorted(k for k in params
                     if k not in SHARED_PARAMETERS and k not in flat and k not in notebook_declared)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; valid names: "
                          + ", ".join(valid_parameter_names(notebooks)))

    device_requested = str(params.pop("device", "auto") or "auto")
    device = resolve_device_name(device_requested)
    data_root = str(params.pop("data_root", "") or "")
    if data_root and not Path(data_root).is_dir():  # only RUN_DIR/data is ever generated
        raise ConfigError(f"data_root {data_root!r} does not exist; prepare a dataset there "
                          "(data_prep) or leave data_root empty for SynthPerson in RUN_DIR/data")
    if preset is None:
        preset = (_detect_preset(Path(data_root), device) if data_root
                  else "synth" if device.startswith("cuda") else "synth-tiny")
    if preset not in PRESET_NAMES:
        raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESET_NAMES)}")
    if not data_root and preset in ("market", "deepfashion"):
        raise ConfigError(f"preset {preset!r} needs real data: pass -p data_root DIR (the kit's "
                          "dataset format, see docs/design.md)")

    config_overrides = {k: (str(v) if isinstance(v, CliValue) else v)
                        for k, v in params.items() if k in flat}
    cfg = get_preset(preset, **config_overrides)  # type and choice checks (ConfigError)
    from dpiglib.pretrained.registry import warn_reserved_seed

    warn_reserved_seed(cfg.seed, "this run")  # the pretrained models' data: not independent
    notebook_overrides = {k: coerce_like(k, v, notebook_declared[k])
                          for k, v in params.items() if k not in flat}
    return PipelinePlan(Path(run_dir).resolve(), preset, data_root, device, device_requested, cfg,
                        config_overrides, notebook_overrides, tuple(notebooks))


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def read_state(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``RUN_DIR/pipeline_state.json`` or None when the directory holds no run yet."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


@dataclass
class _Logger:
    path: Path
    echo: Callable[[str], None] | None

    def __call__(self, msg: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(f"{_now()} {msg}\n")
        if self.echo is not None:
            self.echo(msg)


def _logged_kernel_manager(stream):
    """A kernel manager whose kernel process writes its own stdout/stderr to ``stream``.

    ipykernel logs start-up and shut-down chatter (transport warnings, the interrupt at
    shutdown) to the process's stderr; it belongs in the notebook's log, not on the console.
    """
    from jupyter_client import AsyncKernelManager

    class _LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            kw.setdefault("stdout", stream)
            kw.setdefault("stderr", stream)
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return _LoggedKernelManager


def run_pipeline(plan: PipelinePlan, force: bool = False, echo: Callable[[str], None] | None = print,
                 progress_bar: bool = False, kernel_name: str = "python3") -> dict[str, Any]:
    """Execute the plan's notebooks in order into ``plan.run_dir``; resume where one stopped.

    Notebooks marked completed in ``pipeline_state.json`` are skipped when the run's fingerprint
    (:meth:`PipelinePlan.fingerprint`) matches. Execution stops at the first failing notebook;
    its cell index, exception name and value are recorded, and ``summary.json`` /``report.md``
    are still written.

    Args:
        plan: from :func:`plan_pipeline`.
        force: discard the recorded state (and a parameter mismatch) and run every notebook.
        echo: where progress lines go (also appended to ``RUN_DIR/logs/pipeline.log``).
        progress_bar: papermill's per-cell progress bar.
        kernel_name: the Jupyter kernel; ``python3`` is ipykernel's, which jupyter_client starts
            with ``sys.executable`` (this interpreter), so notebooks see the same packages.

    Returns:
        The summary dict written to ``summary.json`` (``status`` is ``"completed"`` or
        ``"failed"``; a failure names ``failed.notebook`` and ``failed.cell_index``, 0-based in
        the *executed* notebook, which holds papermill's injected-parameters cell).

    Raises:
        ConfigError: the run directory holds a run with other parameters and ``force`` is False.
        KeyboardInterrupt: re-raised after the state records the interrupted notebook.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from dpiglib.pipeline.report import write_summary_and_report

    run_dir = plan.run_dir
    state = read_state(run_dir)
    fingerprint = plan.fingerprint()
    if state is not None and not force and state.get("fingerprint") != fingerprint:
        diff = _diff_keys(state.get("fingerprint", {}), fingerprint)
        raise ConfigError(f"{run_dir} holds a run with different parameters ({', '.join(diff)}); "
                          "use --resume to reuse its parameters, --force to start over, or "
                          "another --out")
    if state is None or force:
        state = {"version": 1, "created": _now(), "fingerprint": fingerprint, "notebooks": {}}
    state.update(parameters=plan.run_parameters(), status="running", updated=_now())
    state_path = run_dir / STATE_FILE
    for sub in ("notebooks", "logs"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    # config.json first: the resolved config is on disk before any work (docs/conventions.md).
    write_run_config(plan.config, run_dir, extra={"run": plan.run_parameters()})
    atomic_write_json(state_path, state, default=str)
    log = _Logger(run_dir / "logs" / "pipeline.log", echo)
    log(f"dpig run: preset {plan.preset}, device {plan.device}, run dir {run_dir}")

    total = len(plan.notebooks)
    failure: dict[str, Any] | None = None
    for i, nb in enumerate(plan.notebooks, 1):
        record = state["notebooks"].get(nb.name, {})
        out_path = run_dir / "notebooks" / nb.name
        if record.get("status") == "completed" and out_path.is_file():
            log(f"[{i}/{total}] {nb.name}: already completed ({record['seconds']:.1f} s), skipped")
            continue
        log(f"[{i}/{total}] {nb.name}: running")
        record = {"status": "running", "started": _now(),
                  "attempts": int(record.get("attempts", 0)) + 1}
        state["notebooks"][nb.name] = record
        atomic_write_json(state_path, state, default=str)
        t0 = time.perf_counter()
        nb_log = run_dir / "logs" / (nb.path.stem + ".log")
        try:
            with nb_log.open("a") as stream:
                stream.write(f"==== {_now()} attempt {record['attempts']}\n")
                stream.flush()  # the kernel process appends to the same file
                papermill.execute_notebook(
                    str(nb.path), str(out_path), parameters=plan.parameters_for(nb),
                    kernel_name=kernel_name, progress_bar=progress_bar, cwd=str(nb.path.parent),
                    stdout_file=stream, stderr_file=stream,
                    kernel_manager_class=_logged_kernel_manager(stream))
        except PapermillExecutionError as exc:
            failure = {"notebook": nb.name, "cell_index": exc.cell_index,
                       "exec_count": exc.exec_count, "ename": exc.ename,
                       "evalue": str(exc.evalue)[:500],
                       "cell_source": (exc.source or "").strip().splitlines()[:1],
                       "output": str(out_path)}
            record.update(status="failed", **{k: v for k, v in failure.items() if k != "notebook"})
        except KeyboardInterrupt:
            record.update(status="interrupted", seconds=time.perf_counter() - t0, finished=_now())
            state.update(status="interrupted", updated=_now())
            atomic_write_json(state_path, state, default=str)
            log(f"[{i}/{total}] {nb.name}: interrupted; rerun the same command to resume")
            raise
        except Exception as exc:  # kernel died, notebook unreadable, ...
            failure = {"notebook": nb.name, "cell_index": None, "exec_count": None,
                       "ename": type(exc).__name__, "evalue": str(exc)[:500], "cell_source": [],
                       "output": str(out_path)}
            record.update(status="failed", **{k: v for k, v in failure.items() if k != "notebook"})
        else:
            record["status"] = "completed"
        record.update(seconds=round(time.perf_counter() - t0, 3), finished=_now())
        atomic_write_json(state_path, state, default=str)
        if failure is not None:
            where = (f"cell {failure['cell_index']} ({' '.join(failure['cell_source'])[:60]!r})"
                     if failure["cell_index"] is not None else "before any cell")
            log(f"[{i}/{total}] {nb.name}: FAILED at {where}: {failure['ename']}: "
                f"{failure['evalue']} (see {out_path})")
            break
        log(f"[{i}/{total}] {nb.name}: done in {record['seconds']:.1f} s")

    state.update(status="failed" if failure else "completed", updated=_now())
    atomic_write_json(state_path, state, default=str)
    summary = write_summary_and_report(plan, state, failure)
    log(f"report: {run_dir / 'report.md'}")
    return summary
