"""Train a candidate pretrained recipe's Stage-I and print its held-out ratios every 1,000 steps.

The measurement behind the choice of ``PRETRAINED_RECIPES["synth-tiny"]`` (docs/pretrained_probes.md,
"Candidates"). A candidate is the current recipe with some overrides; its run
directory is exactly the one ``dpig pretrained build`` would make (``resolve_run_config`` with the
candidate's parameters, the same SynthPerson data, the same ``train_stage1`` calls), trained in
chunks of 1,000 steps (resume is bit-exact). So once a candidate becomes the recipe,

    dpig pretrained build synth-tiny --out RUN_DIR

resumes that directory: the image phase is done, and the pose auto-encoder, Stage-II and the
export follow. After each chunk the Stage-I model is scored with
:func:`dpiglib.pretrained.store.pretrained_ratios` (Stage-II is not needed for the four ratios)
and one JSON line is printed.

    python scripts/pretrained_probe.py RUN_DIR [-p model_width 32] [-p stage1_lambda_l1 2000.0] ...
        [--data DIR] [--threads 1]

``--checkpoints`` trains nothing: it scores every kept Stage-I checkpoint of RUN_DIR twice, on the
run's own test split (32 identities of the training seed that the model never trained on: the
*validation* set a checkpoint is chosen on) and on the held-out set (seed 2019: the set the
shipped ratios are reported on, never used to choose).

``--data`` copies an already rendered dataset of the same recipe (400 identities take a while
to render). One thread per probe lets two probes share a 2-core machine without slowing each
other (two 2-thread jobs oversubscribe the cores and both crawl).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpiglib.config import PRETRAINED_RECIPES, resolve_run_config  # noqa: E402
from dpiglib.data.prepare import ensure_dataset  # noqa: E402
from dpiglib.pretrained.store import heldout_dataset, pretrained_ratios  # noqa: E402
from dpiglib.sampling.sampler import Sampler  # noqa: E402
from dpiglib.training.stage1 import load_stage1, train_stage1  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="the candidate's run directory")
    ap.add_argument("--name", default="synth-tiny", help="the recipe the candidate starts from")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a flat config override of the recipe, e.g. -p model_width 32")
    ap.add_argument("--data", help="a rendered dataset of the same recipe to copy (optional)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--every", type=int, default=1000, help="steps between scores")
    ap.add_argument("--checkpoints", action="store_true",
                    help="train nothing; score each kept checkpoint on the validation and held-out sets")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.checkpoints:
        return score_checkpoints(Path(args.run))
    preset, recipe = PRETRAINED_RECIPES[args.name]
    recipe = dict(recipe)
    for k, v in args.p:
        recipe[k] = type(recipe[k])(v) if k in recipe else v
    out = Path(args.run)
    out.mkdir(parents=True, exist_ok=True)
    if args.data and not (out / "data").exists():
        shutil.copytree(args.data, out / "data")
    cfg = resolve_run_config(preset, out, **recipe)
    print(json.dumps({"run": str(out), "recipe": recipe}), flush=True)
    root = ensure_dataset(cfg, out, progress=False)
    held = heldout_dataset(cfg=cfg, progress=False)
    done = 0
    while done < cfg.stage1.steps:
        r = train_stage1(cfg, root, out, device="cpu", model="image", progress=False,
                         max_steps=min(cfg.stage1.steps, done + args.every))
        done = r["step"]
        if r["steps_run"] <= 0:  # a resumed directory already past this chunk: catch up
            continue
        stage1, _, c = load_stage1(out, "cpu")
        ratios = pretrained_ratios(Sampler(stage1, None, None, c, "cpu"), held, progress=False)
        print(json.dumps({"step": done, "time": time.strftime("%H:%M:%S"),
                          "steps_per_s": round(r["steps_per_s"], 2),
                          "val_l1": round(r["val"]["val_l1"], 4),
                          **{k: round(v, 3) for k, v in ratios.items()}}), flush=True)
    return 0


def score_checkpoints(out: Path) -> int:
    """One JSON line per kept checkpoint: its ratios on the validation set and the held-out set."""
    from dpiglib.core.checkpoint import CheckpointManager

    paths = [p for _, p in CheckpointManager(out / "stage1" / "checkpoints").numbered()]
    if not paths:
        print(f"error: no Stage-I checkpoints in {out}/stage1/checkpoints", file=sys.stderr)
        return 1
    held = None
    for p in paths:
        stage1, _, c = load_stage1(p, "cpu")
        held = held or heldout_dataset(cfg=c, progress=False)
        sampler = Sampler(stage1, None, None, c, "cpu")
        row = {"checkpoint": Path(p).name}
        for name, root in (("val", out / "data"), ("heldout", held)):
            ratios = pretrained_ratios(sampler, root, progress=False)
            row[name] = {k: round(v, 3) for k, v in ratios.items()}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
