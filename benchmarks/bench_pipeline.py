"""Notebook pipeline wall time: seconds per notebook of ``dpig run`` and the total.

Runs ``dpig run --preset synth-tiny --force`` in a fresh subprocess (so imports and kernel
start-ups are counted as a user sees them) and reads the per-notebook timings the pipeline
recorded in ``RUN_DIR/pipeline_state.json``; or, with ``--run-dir`` alone, only reads an existing
run's timings. The budgets are those of docs/conventions.md (2-core CPU, ``synth-tiny``); they are
shown for other presets/devices too but mean nothing there.

    python benchmarks/bench_pipeline.py                       # run synth-tiny, write results/pipeline.json
    python benchmarks/bench_pipeline.py --run-dir runs/synth-tiny --no-run   # just read a run
    python benchmarks/bench_pipeline.py --quick               # CI smoke: notebook 01, few identities
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (REPO_ROOT, base_parser, environment, output_path, print_table,  # noqa: E402
                     setup_device, write_json)

# Seconds on a 2-core CPU for synth-tiny (docs/conventions.md, "Time budgets").
BUDGETS_S = {"01": 60.0, "02": 180.0, "03": 90.0, "04": 30.0, "05": 90.0}
TOTAL_BUDGET_S = 480.0


def run_pipeline_subprocess(run_dir: Path, preset: str, device: str, extra: list[str]) -> int:
    cmd = [sys.executable, "-m", "dpiglib", "run", "--preset", preset, "--out", str(run_dir),
           "--device", device, "--force", *extra]
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO_ROOT).returncode


def main() -> int:
    ap = base_parser(__doc__)
    ap.add_argument("--preset", default="synth-tiny")
    ap.add_argument("--run-dir", default=None,
                    help="run directory (default runs/bench-pipeline-<preset>)")
    ap.add_argument("--no-run", action="store_true",
                    help="do not run anything: read the timings of --run-dir")
    args = ap.parse_args()
    device = setup_device(args)
    run_dir = Path(args.run_dir or REPO_ROOT / "runs" / f"bench-pipeline-{args.preset}")
    wall = None
    if not args.no_run:
        extra = ["--only", "01", "-p", "synth_identities", "4"] if args.quick else []
        t0 = time.perf_counter()
        rc = run_pipeline_subprocess(run_dir, args.preset, str(device), extra)
        wall = time.perf_counter() - t0
        if rc not in (0, 1):
            print(f"dpig run exited with {rc}", file=sys.stderr)
            return rc
    state_file = run_dir / "pipeline_state.json"
    if not state_file.is_file():
        ap.error(f"{state_file} does not exist (run the pipeline, or drop --no-run)")
    state = json.loads(state_file.read_text())
    rows = []
    for name, rec in state["notebooks"].items():
        budget = BUDGETS_S.get(name[:2])
        sec = rec.get("seconds")
        rows.append({"notebook": name, "status": rec.get("status"), "seconds": sec,
                     "budget_s": budget,
                     "within": (sec <= budget) if sec is not None and budget else None})
    total = sum(r["seconds"] for r in rows if r["seconds"] is not None)
    rows.append({"notebook": "total (notebooks)", "status": state.get("status"),
                 "seconds": total, "budget_s": TOTAL_BUDGET_S, "within": total <= TOTAL_BUDGET_S})
    if wall is not None:
        rows.append({"notebook": "total (dpig run wall)", "seconds": wall,
                     "budget_s": TOTAL_BUDGET_S, "within": wall <= TOTAL_BUDGET_S})
    print_table(f"dpig run --preset {args.preset} on {device} ({run_dir})", rows,
                ["notebook", "status", "seconds", "budget_s", "within"])
    payload = {"benchmark": "pipeline", "preset": args.preset, "run_dir": str(run_dir),
               "quick": args.quick, "status": state.get("status"), "notebooks": rows,
               "total_s": total, "wall_s": wall,
               "budget_note": "budgets: docs/conventions.md, 2-core CPU, synth-tiny",
               "parameters": state.get("parameters"), **environment(device)}
    write_json(output_path("pipeline", args), payload)
    return 0 if state.get("status") == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
