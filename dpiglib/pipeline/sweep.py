"""Parameter sweeps: the notebook pipeline once per combination, summaries in one table.

Not part of the paper: it is how a reader reruns the DPIG recipe over, say, Stage-I lengths and
seeds (``dpig sweep -p stage1_steps 200,400 -p seed 0,1``). Every combination is validated before
the first run starts; each gets its own run directory ``SWEEP_DIR/run_000_<desc>/``; a failed run
is recorded with its notebook and cell while the others still finish; the per-run
``summary.json`` files become ``SWEEP_DIR/sweep.csv`` (pandas) and ``sweep.png``.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from dpiglib.config import ConfigError, flat_parameters
from dpiglib.pipeline.runner import CliValue, PipelinePlan, plan_pipeline, run_pipeline

__all__ = ["parse_axes", "combinations", "run_name", "plan_sweep", "run_sweep", "sweep_table",
           "plot_sweep"]


def parse_axes(pairs: Iterable[tuple[str, str]]) -> dict[str, list[Any]]:
    """``-p NAME V1,V2`` pairs → ``{NAME: [V1, V2]}`` (values stay :class:`CliValue` text).

    A name given twice extends its axis. A tuple-valued config field (``eval_protocols``) cannot
    be swept from the command line because of its own commas; use a YAML file with a list of
    lists instead.
    """
    axes: dict[str, list[Any]] = {}
    for name, text in pairs:
        values = [CliValue(v.strip()) for v in str(text).split(",") if v.strip()]
        if not values:
            raise ConfigError(f"sweep parameter {name!r} has no values")
        axes.setdefault(name, []).extend(values)
    return axes


def combinations(axes: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product in the order given, the last axis varying fastest."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def run_name(index: int, combo: Mapping[str, Any]) -> str:
    """``run_003_stage1_steps-400_seed-1``: index plus a filesystem-safe parameter summary."""
    desc = "_".join(f"{k}-{v}" for k, v in combo.items())
    desc = re.sub(r"[^A-Za-z0-9_.=-]+", "", desc)[:80]
    return f"run_{index:03d}" + (f"_{desc}" if desc else "")


def plan_sweep(out_dir: str | os.PathLike, axes: Mapping[str, list[Any]],
               preset: str | None = None, fixed: Mapping[str, Any] | None = None,
               notebook_dir: str | os.PathLike | None = None,
               only: Iterable[str] | None = None) -> list[tuple[str, dict[str, Any], PipelinePlan]]:
    """Validate every combination (no work is done): ``[(run name, combination, plan), ...]``.

    Raises:
        ConfigError: the first invalid combination, naming the run.
    """
    if not axes:
        raise ConfigError("a sweep needs at least one -p NAME V1,V2 axis")
    out = []
    for i, combo in enumerate(combinations(axes)):
        name = run_name(i, combo)
        try:
            plan = plan_pipeline(Path(out_dir) / name, preset, {**(fixed or {}), **combo},
                                 notebook_dir, only)
        except ConfigError as exc:
            raise ConfigError(f"sweep run {name}: {exc}") from None
        out.append((name, combo, plan))
    return out


def _typed_parameters(plan: PipelinePlan) -> dict[str, Any]:
    """A plan's parameters as typed YAML-able values (for the ``dpig run -f`` of a subprocess)."""
    flat = flat_parameters(plan.config)
    params: dict[str, Any] = {k: flat[k] for k in plan.config_overrides}
    params.update(plan.notebook_overrides)
    params.update(device=plan.device_requested, data_root=plan.data_root)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _run_subprocess(plan: PipelinePlan, notebook_dir: str | os.PathLike | None,
                    only: Iterable[str] | None) -> tuple[int, str]:
    """Run one combination as ``python -m dpiglib run``; return its exit code and output tail.

    Exit code 1 is a run that failed in a notebook (its summary says where); 2 is a run that
    could not start (e.g. its directory holds a run with other parameters).
    """
    import yaml

    plan.run_dir.mkdir(parents=True, exist_ok=True)
    params_file = plan.run_dir / "sweep_params.yaml"
    params_file.write_text(yaml.safe_dump(_typed_parameters(plan), sort_keys=True))
    cmd = [sys.executable, "-m", "dpiglib", "run", "--out", str(plan.run_dir), "--preset",
           plan.preset, "-f", str(params_file), "--quiet"]
    if notebook_dir is not None:
        cmd += ["--notebooks", str(notebook_dir)]
    if only:
        cmd += ["--only", ",".join(only)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode, (proc.stdout + proc.stderr)[-2000:]


def sweep_table(runs: list[tuple[str, dict[str, Any], PipelinePlan]],
                errors: Mapping[str, str] | None = None):
    """One row per run from its ``summary.json``: parameters, status, failure, timings, metrics.

    Returns:
        pandas DataFrame with columns ``run``, the swept names, ``status``, ``failed_notebook``,
        ``failed_cell``, ``error``, ``time_s/<notebook>``, ``total_s`` and the metric keys.
        ``errors`` maps the names of runs that could not start to their reason.
    """
    import pandas as pd

    errors = errors or {}
    rows = []
    for name, combo, plan in runs:
        # Typed values (the plan's), so a swept "200" from the command line is the number 200.
        typed = {**plan.shared_values(), **plan.run_parameters()["overrides"]}
        row: dict[str, Any] = {"run": name, **{k: typed.get(k, str(v)) for k, v in combo.items()}}
        path = plan.run_dir / "summary.json"
        # A run that could not start leaves no summary of its own (an older one may be there).
        summary = json.loads(path.read_text()) if path.is_file() and name not in errors else None
        if summary is None:
            row.update(status="error", failed_notebook=None, failed_cell=None,
                       error=errors.get(name, "no summary.json written"))
        else:
            failed = summary.get("failed") or {}
            row.update(status=summary["status"], failed_notebook=failed.get("notebook"),
                       failed_cell=failed.get("cell_index"),
                       error=f"{failed['ename']}: {failed['evalue']}" if failed else None)
            for nb, sec in summary["timings_s"].items():
                row[f"time_s/{Path(nb).stem}"] = sec
            row["total_s"] = summary["total_s"]
            row.update(summary["metrics"])
        row["run_dir"] = str(plan.run_dir)
        rows.append(row)
    return pd.DataFrame(rows)


def plot_sweep(df, axes: list[str], path: str | os.PathLike) -> str:
    """Plot a key metric (the first ``eval/`` metric, else the first metric, else ``total_s``)
    against the first swept parameter, one line per value of the other axes; return the y name."""
    import pandas as pd
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    ok = df[df["status"] == "completed"]
    metric_cols = [c for c in df.columns if c.split("/")[0] in ("stage1", "stage2", "eval")]
    y = next((c for c in metric_cols if c.startswith("eval/")), None) or (
        metric_cols[0] if metric_cols else "total_s")
    x, others = axes[0], axes[1:]
    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    if len(ok) and y in ok:
        groups = ok.groupby(others) if others else [((), ok)]
        for key, grp in groups:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{n}={v}" for n, v in zip(others, key)) or None
            grp = grp.sort_values(x)
            xs = grp[x] if pd.api.types.is_numeric_dtype(grp[x]) else grp[x].astype(str)
            ax.plot(xs, grp[y], "o-", label=label)
        if others:
            ax.legend(fontsize=7)
    n_failed = int((df["status"] != "completed").sum())
    ax.set(xlabel=x, ylabel=y, title=f"sweep: {len(ok)} completed, {n_failed} failed")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return y


def _brief(name: str, msg: str, say: Callable[[str], None]) -> None:
    """Forward a run's per-notebook outcome lines (not its start/report chatter)."""
    if msg.startswith("[") and not msg.endswith(": running"):
        say(f"  {name} {msg}")


def run_sweep(out_dir: str | os.PathLike, axes: Mapping[str, list[Any]],
              preset: str | None = None, fixed: Mapping[str, Any] | None = None,
              notebook_dir: str | os.PathLike | None = None, jobs: int = 1,
              only: Iterable[str] | None = None, force: bool = False,
              echo: Callable[[str], None] | None = print):
    """Run the pipeline for every combination of ``axes`` and collect the summaries.

    Args:
        out_dir: the sweep directory (``run_NNN_<desc>/``, ``sweep.csv``, ``sweep.png``).
        axes: name → list of values (``parse_axes``, or lists from a YAML file).
        preset, fixed: preset and parameters shared by every run.
        jobs: runs at once; 1 runs them one after another in this process, more start
            ``python -m dpiglib run`` subprocesses.
        force: rerun each combination from scratch (else existing runs resume).

    Returns:
        The pandas DataFrame also written to ``sweep.csv``. A failed run is a row with
        ``status == "failed"``; the others still complete.
    """
    runs = plan_sweep(out_dir, axes, preset, fixed, notebook_dir, only)  # all checks first
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say = echo or (lambda msg: None)
    say(f"dpig sweep: {len(runs)} runs into {out_dir} ({'jobs=' + str(jobs)})")
    errors: dict[str, str] = {}

    def one(item: tuple[str, dict[str, Any], PipelinePlan]) -> None:
        name, combo, plan = item
        try:
            if jobs > 1:
                rc, tail = _run_subprocess(plan, notebook_dir, only)
                if rc not in (0, 1):
                    errors[name] = tail.strip().splitlines()[-1] if tail.strip() else f"exit {rc}"
            else:
                run_pipeline(plan, force=force, echo=lambda msg: _brief(name, msg, say))
        except Exception as exc:  # noqa: BLE001 - one broken run must not stop the sweep
            errors[name] = f"{type(exc).__name__}: {exc}"
        summary = plan.run_dir / "summary.json"
        status = ("error: " + errors[name] if name in errors
                  else json.loads(summary.read_text())["status"] if summary.is_file() else "error")
        say(f"  {name}: {status}")

    if jobs > 1:
        if force:
            for _, _, plan in runs:
                (plan.run_dir / "pipeline_state.json").unlink(missing_ok=True)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, runs))
    else:
        for item in runs:
            one(item)
    df = sweep_table(runs, errors)
    df.to_csv(out_dir / "sweep.csv", index=False)
    y = plot_sweep(df, list(axes), out_dir / "sweep.png")
    say(f"sweep table: {out_dir / 'sweep.csv'}; plot of {y}: {out_dir / 'sweep.png'}")
    return df
