"""The ground-truth ratio table of docs/pretrained.md: the shipped model beside a notebook-02
model and an untrained one, on the pretrained models' held-out SynthPerson set.

    python scripts/pretrained_table.py --run RUN_DIR [--name synth-tiny] [--pairs 128]

``RUN_DIR`` is a finished ``dpig run --preset synth-tiny`` (its Stage-I is notebook 02's model;
the untrained row is a Stage-I model at the same preset's initialisation, seed 0; when the shipped
model has another architecture, a second untrained row has its architecture). All rows are
scored with :func:`dpiglib.pretrained.store.pretrained_ratios` (ground_truth_scores against the
copy-source baseline on the same pairs, then ground_truth_ratios), each on the held-out set drawn
at its own image size (the same people and pairs at any size). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpiglib import load_pretrained  # noqa: E402
from dpiglib.config import PRETRAINED_HELDOUT_SEED  # noqa: E402
from dpiglib.core.runtime import seed_everything  # noqa: E402
from dpiglib.metrics.ground_truth import RATIO_NAMES as COLUMNS  # noqa: E402
from dpiglib.models.stage1 import Stage1Model  # noqa: E402
from dpiglib.pretrained.store import heldout_dataset, pretrained_ratios  # noqa: E402
from dpiglib.sampling.sampler import Sampler  # noqa: E402


def untrained(cfg) -> Sampler:
    """A Stage-I model of ``cfg``'s architecture at its initialisation (seed 0)."""
    seed_everything(0)
    return Sampler(Stage1Model(cfg.model), None, None, cfg, "cpu")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a finished synth-tiny run directory")
    p.add_argument("--name", default="synth-tiny")
    p.add_argument("--pairs", type=int, default=128)
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    shipped = load_pretrained(args.name, device="cpu")
    run = Sampler.from_run_dir(args.run, device="cpu", stage2=False)
    rows = {f"shipped `{args.name}` ({shipped.cfg.model.width}-wide, "
            f"{shipped.cfg.stage1.steps:,} steps)": shipped,
            f"notebook 02 (`{args.run}`, {run.cfg.stage1.steps:,} steps)": run,
            "untrained (synth-tiny initialisation)": untrained(run.cfg)}
    if shipped.cfg.model != run.cfg.model:  # another architecture: its own untrained baseline
        rows[f"untrained (`{args.name}`'s architecture)"] = untrained(shipped.cfg)
    print(f"Held-out set: seed {PRETRAINED_HELDOUT_SEED}, {args.pairs} pairs per task, at each "
          "model's size\n")
    print("| model | size | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for label, sampler in rows.items():
        root = heldout_dataset(cfg=sampler.cfg, progress=False)
        r = pretrained_ratios(sampler, root, pairs=args.pairs, progress=False)
        size = "×".join(map(str, sampler.cfg.data.image_size))
        print(f"| {label} | {size} | " + " | ".join(f"{r[c]:.3f}" for c in COLUMNS) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
