"""Train synth-tiny Stage-I with overrides and report whether the model uses the pose.

The measurement behind docs/presets.md ("Session 3"): it runs the real trainer
(``dpiglib.training.stage1.train_stage1``) on the preset's SynthPerson data, then prints the held-out
validation curve (``val.csv``) and the pose-swap Δ: mean |Δ output| when the heatmaps of 32
held-out images are rolled by one inside the batch (≈ 0.01 means the pose is ignored). It also
saves a grid: held-out inputs, reconstructions, reconstructions in the next image's pose, and
that pose's source image.

    python scripts/probe_tiny_stage1.py OUT_DIR [--threads 1] [-p stage1_steps 1400] [-p seed 2] ...

Data are generated once per (seed, synth numbers) under OUT_DIR/data_*; each probe writes
OUT_DIR/NAME/ (the trainer's run directory) and OUT_DIR/NAME.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpiglib.config import get_preset
from dpiglib.data.datasets import PersonDataset, spread_batch, spread_indices
from dpiglib.ui.diagnostics import pose_swap
from dpiglib.data.prepare import ensure_dataset
from dpiglib.core.runlog import save_image_grid
from dpiglib.training.stage1 import train_stage1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder for data, runs and grids")
    ap.add_argument("--name", default="", help="probe name (default: from the overrides)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: two probes side by side)")
    ap.add_argument("--val-every", type=int, default=200)
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a flat config override, e.g. -p stage1_lambda_l1 1000")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = dict(args.p)
    cfg = get_preset("synth-tiny", **overrides)
    s1 = cfg.stage1
    cfg = replace(cfg, stage1=replace(s1, sample_every=s1.steps, checkpoint_every=s1.steps,
                                      val_every=args.val_every))
    name = args.name or ("_".join(f"{k}-{v}" for k, v in overrides.items()) or "preset")
    out = Path(args.out)
    syn = cfg.synth
    data = ensure_dataset(cfg, out / f"data_seed{cfg.seed}_{syn.style}_{syn.identities}x"
                                     f"{syn.images_per_identity}", progress=False)
    run = out / name
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.perf_counter()
    result = train_stage1(cfg, data, run, device="cpu", progress=False)
    wall = time.perf_counter() - t0
    test = PersonDataset(data, "test", cfg.data, flip=False)
    b = spread_batch(test, spread_indices(len(test), 32), cfg.data)
    rec, rec_swap = pose_swap(result["model"], b, shift=1)
    swap = (rec_swap - rec).abs().mean().item()
    n = min(12, rec.shape[0])
    save_image_grid(torch.cat([b["image"][:n], rec[:n], rec_swap[:n],
                               b["image"].roll(1, dims=0)[:n]]), out / f"{name}.png", nrow=n)
    with open(run / "stage1" / "val.csv") as f:
        curve = [(int(r["step"]), float(r["val_l1"]), float(r["val_ssim"])) for r in csv.DictReader(f)]
    print(json.dumps({"name": name, "overrides": overrides, "train_seconds": round(wall, 1),
                      "pose_swap_delta": round(swap, 3),
                      "val_curve": " ".join(f"{s}:{l1:.3f}/{ss:.3f}" for s, l1, ss in curve)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
