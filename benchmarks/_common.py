"""Shared plumbing of the benchmark scripts: arguments, environment record, timing, tables, JSON.

Not part of the paper. Every script prints a small table and writes one JSON file holding the
numbers *and* what produced them (device, versions, CPU count and torch threads, the load
average, git commit, the exact command line), so a row of ``docs/performance.md`` can be traced
and re-run. Timings are the **median over repeats** of a mean over several steps: the machines
these run on are often shared, and the median resists one slow repeat.

Memory is labelled by how it was measured: ``cuda_max_allocated`` (``torch.cuda``'s allocator
peak, reset before the timed steps) or ``cpu_peak_rss_delta`` (the process's peak resident set,
``ru_maxrss``, minus its resident set before the first measured step; meaningful only in a fresh
process, which is why the Stage-I matrix runs each configuration in its own subprocess).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from dpiglib.core.fileio import atomic_write_json
from dpiglib.core.runtime import resolve_device
from dpiglib.core.runtime_info import cpu_count, device_description, git_commit, package_versions

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# Arguments and environment
# --------------------------------------------------------------------------------------------


def base_parser(doc: str) -> argparse.ArgumentParser:
    """Parser with the options every benchmark shares (``--quick``, ``--out``, ``--device`` …)."""
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="CI smoke: tiny sizes, a few steps, seconds in all; writes JSON only "
                         "with --out")
    ap.add_argument("--out", default=None,
                    help="JSON output path (default benchmarks/results/NAME.json; none with "
                         "--quick unless given)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed repeats; the median is reported")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default: torch's choice)")
    return ap


def check_positive(ap: argparse.ArgumentParser, **values: int | None) -> None:
    """``ap.error`` naming the first option that is given but < 1."""
    for name, v in values.items():
        if v is not None and v < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {v}")


def setup_device(args: argparse.Namespace) -> torch.device:
    """Resolve ``--device`` (ValueError names the missing accelerator) and apply ``--threads``.

    ``--quick`` runs on one thread unless ``--threads`` is given: on a shared 2-core CI machine
    two OpenMP threads of small ops spend most of their time waiting for each other.
    """
    threads = args.threads or (1 if args.quick else None)
    if threads:
        torch.set_num_threads(threads)
    return resolve_device(args.device)


def environment(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on: versions, device, threads, load, commit, command."""
    dev = str(device)
    info = {
        "versions": package_versions(("dpiglib", "torch", "numpy", "pillow")),
        "device": device_description(dev),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": cpu_count(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "git": git_commit(REPO_ROOT),
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        info["cuda"] = {"tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                        "cudnn_tf32": torch.backends.cudnn.allow_tf32,
                        "cudnn_benchmark": torch.backends.cudnn.benchmark}
    return info


def output_path(name: str, args: argparse.Namespace) -> Path | None:
    """``--out`` if given, else ``benchmarks/results/NAME.json`` (None for ``--quick``)."""
    if args.out:
        return Path(args.out)
    return None if args.quick else RESULTS_DIR / f"{name}.json"


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically (temp file + rename) and say where; no-op for None."""
    if path is None:
        return
    atomic_write_json(path, payload, default=_jsonable)
    print(f"wrote {path}")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (torch.dtype, torch.device, Path)):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


# --------------------------------------------------------------------------------------------
# Timing and memory
# --------------------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock time covers it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_steps(step: Callable[[], Any], device: torch.device, steps: int, warmup: int,
               repeats: int) -> dict[str, Any]:
    """Seconds per call of ``step``: ``warmup`` untimed calls, then ``repeats`` × ``steps`` calls.

    Returns:
        ``{"s_per_step": median over repeats, "s_per_step_repeats": [...], "steps": steps,
        "warmup": warmup, "repeats": repeats}``.
    """
    for _ in range(warmup):
        step()
    synchronize(device)
    per = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(device)
        per.append((time.perf_counter() - t) / steps)
    return {"s_per_step": statistics.median(per), "s_per_step_repeats": per, "steps": steps,
            "warmup": warmup, "repeats": repeats}


def rss_bytes() -> int:
    """Current resident set size of this process (Linux ``/proc``; falls back to ru_maxrss)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, B on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class PeakMemory:
    """Peak memory over a block: CUDA allocator peak, or the CPU peak-RSS increase.

    ``with PeakMemory(dev) as pm: ...`` then ``pm.result()`` →
    ``{"peak_memory_mib": float, "memory_kind": "cuda_max_allocated" | "cpu_peak_rss_delta"}``.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.value = 0.0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.before = rss_bytes()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            synchronize(self.device)
            self.value = torch.cuda.max_memory_allocated(self.device)
        else:
            self.value = max(0, peak_rss_bytes() - self.before)

    def result(self) -> dict[str, Any]:
        kind = "cuda_max_allocated" if self.device.type == "cuda" else "cpu_peak_rss_delta"
        return {"peak_memory_mib": self.value / 2**20, "memory_kind": kind}


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def format_value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "-" if v is None else ("yes" if v else "no")
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 0.01:
            return f"{v:.3f}"
        return f"{v:.2e}"
    return str(v)


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A fixed-width table of ``columns`` of ``rows`` (missing values print as "-")."""
    cells = [[format_value(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print(title)
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))
    print()
