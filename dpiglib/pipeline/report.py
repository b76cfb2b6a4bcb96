"""The end of a pipeline run: ``summary.json`` and a short human-readable ``report.md``.

Not part of the paper. The summary gathers what a reader needs to trust a number (conventions
page, "Run directory" and "Honest small numbers"): the parameters, package versions, device,
git commit, seconds per notebook and the key metrics the notebooks wrote
(``stage1/summary.json``, ``stage2/summary.json``, ``eval/metrics.json``: whatever numeric keys
they hold, flattened to ``stage1/...``, ``eval/...``). The report links the figures found under
``RUN_DIR/**/figures/`` and the newest sample grid of each ``samples/`` folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from dpiglib.core.runtime_info import device_description, git_commit, package_versions


__all__ = ["METRIC_FILES", "collect_metrics", "flatten_numeric", "write_summary_and_report",
           "write_report"]

# Files notebooks write whose numbers become key metrics: prefix → path in the run directory.
METRIC_FILES = {
    "stage1": "stage1/summary.json",
    "stage2": "stage2/summary.json",
    "eval": "eval/metrics.json",
}


def flatten_numeric(data: Any, prefix: str) -> dict[str, float | int]:
    """Finite numbers of a nested dict/list, keyed by ``/``-joined paths (booleans dropped).

    >>> flatten_numeric({"fid": {"n": 64, "value": 81.5}, "note": "x"}, "eval")
    {'eval/fid/n': 64, 'eval/fid/value': 81.5}
    """
    out: dict[str, float | int] = {}
    if isinstance(data, Mapping):
        for k, v in data.items():
            out.update(flatten_numeric(v, f"{prefix}/{k}"))
    elif isinstance(data, (list, tuple)) and len(data) <= 16:
        for i, v in enumerate(data):
            out.update(flatten_numeric(v, f"{prefix}/{i}"))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        if math.isfinite(data):
            out[prefix] = data
    return out


def collect_metrics(run_dir: str | Path) -> dict[str, float | int]:
    """Key metrics of :data:`METRIC_FILES` present in ``run_dir`` (unreadable files skipped)."""
    out: dict[str, float | int] = {}
    for prefix, rel in METRIC_FILES.items():
        path = Path(run_dir) / rel
        if path.is_file():
            try:
                out.update(flatten_numeric(json.loads(path.read_text()), prefix))
            except (OSError, ValueError):
                continue
    return out


def _figures(run_dir: Path) -> list[Path]:
    figs = sorted(p for p in run_dir.glob("**/figures/*.png") if "notebooks" not in p.parts)
    for samples in sorted(run_dir.glob("**/samples")):
        pngs = sorted(samples.glob("*.png"))
        if pngs:
            figs.append(pngs[-1])  # the newest grid (names carry zero-padded steps)
    return figs


def _resolved(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(run_dir) / "config.json").read_text()).get("resolved", {})
    except (OSError, ValueError):
        return {}


def write_summary_and_report(plan: Any,  # the runner's PipelinePlan
                             state: Mapping[str, Any],
                             failure: Mapping[str, Any] | None) -> dict[str, Any]:
    """Write ``summary.json`` and ``report.md`` for a finished (or failed) run; return the summary."""
    from dpiglib.core.fileio import atomic_write_json

    run_dir = plan.run_dir
    timings = {name: rec.get("seconds") for name, rec in state["notebooks"].items()
               if rec.get("status") == "completed"}
    summary = {
        "status": state["status"],
        "run_dir": str(run_dir),
        "parameters": plan.run_parameters(),
        "config_file": "config.json",
        # what "auto" settings became on this machine (e.g. stage1_precision bf16 / fp32)
        "resolved": _resolved(run_dir),
        "versions": package_versions(),
        "git": git_commit(),
        "device": device_description(plan.device),
        "timings_s": timings,
        "total_s": round(sum(v for v in timings.values() if v is not None), 3),
        "notebooks": {name: rec.get("status") for name, rec in state["notebooks"].items()},
        "failed": dict(failure) if failure else None,
        "metrics": collect_metrics(run_dir),
        "report": str(run_dir / "report.md"),
    }
    atomic_write_json(run_dir / "summary.json", summary, default=str)
    write_report(run_dir, summary)
    return summary


def _md_table(rows: list[tuple[Any, Any]], header: tuple[str, str]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in rows]
    return lines


def write_report(run_dir: str | Path, summary: Mapping[str, Any]) -> Path:
    """``report.md``: status, parameters, timings, key metrics and the run's figures.

    Figure links are relative, so the report renders wherever the run directory is copied.
    """
    run_dir = Path(run_dir)
    params = summary["parameters"]
    lines = [f"# dpiglib run: {params['preset']}", "",
             f"Status: **{summary['status']}**, device `{params['device']}` "
             f"({summary['device'].get('name', '')}), total {summary['total_s']:.1f} s.", ""]
    failed = summary.get("failed")
    if failed:
        where = (f"cell {failed['cell_index']}" if failed.get("cell_index") is not None
                 else "before any cell")
        lines += [f"**Failed:** `{failed['notebook']}` at {where}: "
                  f"`{failed['ename']}: {failed['evalue']}`; the executed notebook "
                  f"`notebooks/{failed['notebook']}` shows the traceback.", ""]
    git = summary.get("git")
    versions = ", ".join(f"{k} {v}" for k, v in summary["versions"].items() if v)
    lines += [f"Versions: {versions}. Git: "
              + (f"`{git['commit'][:12]}`{' (dirty)' if git['dirty'] else ''}" if git else "n/a")
              + ".", ""]
    lines += ["## Parameters", ""]
    shown = [("preset", params["preset"]), ("data_root", params["data_path"]),
             ("device", params["device"]), ("seed", params["seed"])]
    shown += sorted(params.get("overrides", {}).items())
    lines += _md_table(shown, ("parameter", "value")) + [""]
    lines += ["Full resolved configuration: `config.json`.", "", "## Time per notebook", ""]
    rows = [(name, f"{sec:.1f} s" if sec is not None else status)
            for name, status in summary["notebooks"].items()
            for sec in [summary["timings_s"].get(name)]]
    lines += _md_table(rows, ("notebook", "time")) + [""]
    lines += ["## Key metrics", ""]
    if summary["metrics"]:
        lines += ["Small-sample numbers carry their sample counts (see the evaluation notebook).",
                  ""]
        lines += _md_table([(k, f"{v:.4g}") for k, v in summary["metrics"].items()],
                           ("metric", "value")) + [""]
    else:
        lines += ["No metrics files were written by this run.", ""]
    figs = _figures(run_dir)
    if figs:
        lines += ["## Figures", ""]
        for fig in figs:
            rel = fig.relative_to(run_dir).as_posix()
            lines += [f"![{rel}]({rel})", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
