"""Run every benchmark script in turn, each in its own process, and summarise.

Scripts (in this order): ``bench_data``, ``bench_synth``, ``bench_sampling``, ``bench_stage2``,
``bench_stage1``, ``bench_pipeline``. A script that is not there (yet) is reported as missing and
the others still run; the exit status is non-zero when any script that ran failed.

    python benchmarks/run_all.py                     # full runs, JSON into benchmarks/results/
    python benchmarks/run_all.py --quick             # CI smoke of every script (prints only)
    python benchmarks/run_all.py --quick --out-dir /tmp/bench   # smoke, JSON kept there
    python benchmarks/run_all.py --only stage1,data --device cuda
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("data", "synth", "sampling", "stage2", "stage1", "pipeline")
# Scripts that take --device (bench_synth renders on the CPU only).
DEVICE_AWARE = {"data", "stage1", "stage2", "pipeline"}


def build_command(name: str, args: argparse.Namespace) -> list[str]:
    """The command line for ``bench_NAME.py`` under ``run_all``'s options."""
    cmd = [sys.executable, str(HERE / f"bench_{name}.py")]
    if args.quick:
        cmd.append("--quick")
    if args.out_dir:
        cmd += ["--out", str(Path(args.out_dir) / f"{name}.json")]
    if args.device and name in DEVICE_AWARE:
        cmd += ["--device", args.device]
    return cmd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script")
    ap.add_argument("--out-dir", default=None,
                    help="write each script's JSON as OUT_DIR/NAME.json (default: the scripts' "
                         "own default, benchmarks/results/NAME.json; nothing with --quick)")
    ap.add_argument("--device", default=None, help="passed to the scripts that take --device")
    ap.add_argument("--only", default=None,
                    help=f"comma-separated subset of {', '.join(SCRIPTS)}")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds allowed per script (default: none)")
    args = ap.parse_args(argv)
    names = list(SCRIPTS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in SCRIPTS]
        if unknown:
            ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")
    summary = []
    for name in names:
        path = HERE / f"bench_{name}.py"
        if not path.is_file():
            print(f"=== bench_{name}: missing ({path.relative_to(HERE.parent)} not found); "
                  "skipped", flush=True)
            summary.append((name, "missing", 0.0))
            continue
        cmd = build_command(name, args)
        print(f"=== bench_{name}: {' '.join(cmd[1:])}", flush=True)
        t = time.perf_counter()
        try:
            rc = subprocess.run(cmd, timeout=args.timeout).returncode
            status = "ok" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            status = f"timed out after {args.timeout:.0f} s"
        summary.append((name, status, time.perf_counter() - t))
    print("\nbenchmark   status                seconds")
    for name, status, secs in summary:
        print(f"{name:<11} {status:<21} {secs:7.1f}")
    bad = [s for s in summary if s[1] not in ("ok", "missing")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
