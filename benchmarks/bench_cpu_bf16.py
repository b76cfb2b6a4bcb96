"""CPU bf16 autocast against fp32 for the synth-tiny Stage-I model: speed and held-out quality.

The question behind ``amp="auto"`` on CPUs with native bf16 (AVX-512 BF16 or AMX): is bf16
autocast as good as fp32 for the notebook model? For each seed, the synth-tiny preset trains
its full 1,400 steps twice on the same SynthPerson data (``seed`` = dataset and init seed), once
with ``amp="off"`` (fp32) and once with ``amp="bf16"``, and the trainer's own validation (mean
held-out reconstruction L1 on its 32 evenly spaced test images, the last ``val.csv`` row) is
compared. The criterion: bf16's L1 within 5 % of fp32's, or better, for every seed.

    python benchmarks/bench_cpu_bf16.py                      # seeds 0 1 2, 2 threads
    python benchmarks/bench_cpu_bf16.py --seeds 0 --steps 200 --out /tmp/x.json   # a quick look

Everything is imported before the first run and the runs share this process, so the numbers
are one machine's, measured in one go.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import _common as C
from dpiglib.config import get_preset
from dpiglib.data.prepare import ensure_dataset
from dpiglib.core.runtime import cpu_has_native_bf16
from dpiglib.training.stage1 import train_stage1

NAME = "cpu_bf16"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="Stage-I steps (default: the preset's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/cpu_bf16.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            over = {"seed": seed} | ({"stage1_steps": args.steps} if args.steps else {})
            for amp in ("off", "bf16"):
                cfg = get_preset("synth-tiny", stage1_amp=amp, **over)
                run = Path(tmp) / f"s{seed}_{amp}"
                root = ensure_dataset(cfg, Path(tmp) / f"s{seed}", progress=False)
                t0 = time.perf_counter()
                res = train_stage1(cfg, root, run, device="cpu", progress=False)
                row = {"seed": seed, "amp": amp, "precision": res["precision"],
                       "steps": res["step"], "seconds": time.perf_counter() - t0,
                       "steps_per_s": res["steps_per_s"], "val_l1": res["val"]["val_l1"],
                       "val_ssim": res["val"]["val_ssim"], "val_images": res["val"]["images"]}
                rows.append(row)
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()},
                      flush=True)
    by = {(r["seed"], r["amp"]): r for r in rows}
    per_seed = []
    for seed in args.seeds:
        f32, b16 = by[(seed, "off")], by[(seed, "bf16")]
        per_seed.append({"seed": seed, "val_l1_fp32": f32["val_l1"], "val_l1_bf16": b16["val_l1"],
                         "bf16_over_fp32": b16["val_l1"] / f32["val_l1"],
                         "speedup": b16["steps_per_s"] / f32["steps_per_s"]})
    ok = all(s["bf16_over_fp32"] <= 1.05 for s in per_seed)
    for s in per_seed:
        print(f"seed {s['seed']}: val L1 fp32 {s['val_l1_fp32']:.4f}  bf16 {s['val_l1_bf16']:.4f}"
              f"  ratio {s['bf16_over_fp32']:.3f}  speed-up {s['speedup']:.2f}x")
    print(f"criterion (bf16 within 5 % of fp32 or better, every seed): {'met' if ok else 'NOT met'}")
    payload = {"benchmark": NAME, "environment": C.environment(torch.device("cpu")),
               "native_bf16": cpu_has_native_bf16(), "threads": args.threads,
               "criterion": "bf16 val_l1 <= 1.05 x fp32 val_l1 for every seed", "met": ok,
               "per_seed": per_seed, "runs": rows}
    C.write_json(C.output_path(NAME, argparse.Namespace(out=args.out, quick=False)), payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
