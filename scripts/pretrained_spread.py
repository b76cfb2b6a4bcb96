"""How much the held-out ratios move from one draw of 32 test people to another.

The shipped ratios (docs/pretrained.md) are measured on one held-out set: 32 SynthPerson identities
rendered with seed 2019. This script renders more sets exactly like it but with other seeds, scores
the same models on each as :func:`dpiglib.pretrained.store.pretrained_ratios` does, and prints one
JSON line per (model, set), with the pose-transfer ratio's parts (the model's and copy-source's L1
on the true foreground, and the model's reconstruction L1 beside them), and a summary per model
(mean, sample standard deviation, min, max, and the seed-2019 set's value beside them). It
answers "is a difference of 0.02 between two models, or between a model and a threshold, larger
than what the choice of test people alone moves?".

    python scripts/pretrained_spread.py [--seeds 7001 7002 ...] [--checkpoint LABEL=PATH ...]
        [--out benchmarks/results/pretrained_spread.json]

The shipped model is always scored; ``--checkpoint`` adds Stage-I checkpoint files (e.g. a probe's
``stage1/checkpoints/step_0016000.pt``). The training seed (2018) is refused as a set seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpiglib import load_pretrained  # noqa: E402
from dpiglib.config import PRETRAINED_HELDOUT, PRETRAINED_HELDOUT_SEED, PRETRAINED_SEED  # noqa: E402
from dpiglib.metrics.ground_truth import RATIO_NAMES as COLUMNS  # noqa: E402
from dpiglib.metrics.ground_truth import FG_L1, ground_truth_ratios, score_value  # noqa: E402
from dpiglib.pretrained.store import heldout_dataset, pretrained_scores  # noqa: E402
from dpiglib.sampling.sampler import Sampler  # noqa: E402
from dpiglib.training.stage1 import load_stage1  # noqa: E402


def heldout_set(seed: int, model, tmp: str | Path) -> Path:
    """The seed's held-out set at ``model``'s own size and style (a Sampler or a RunConfig).

    A 128x64 probe is scored on the same people and poses as the 64x32 model (the renderer draws
    a seed's people at any size), not on 64x32 images it was never built for. The seed-2019 set
    goes to the usual cache, the other draws under ``tmp``; ``heldout_dataset`` reuses a complete
    set of the same kind, so each is rendered once however many models share it.
    """
    return heldout_dataset(None if seed == PRETRAINED_HELDOUT_SEED else tmp, model,
                           progress=False, seed=seed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="synth-tiny", help="the shipped model to score")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(7001, 7009)),
                    help="seeds of the extra held-out sets (default 7001-7008)")
    ap.add_argument("--checkpoint", action="append", default=[], metavar="LABEL=PATH",
                    help="also score this Stage-I checkpoint file")
    ap.add_argument("--out", help="write the rows and summaries to this JSON file")
    args = ap.parse_args(argv)
    if PRETRAINED_SEED in args.seeds:
        print(f"error: seed {PRETRAINED_SEED} is the pretrained model's training seed; "
              "choose other seeds", file=sys.stderr)
        return 2
    models = {f"shipped {args.name}": load_pretrained(args.name, device="cpu")}
    for item in args.checkpoint:
        label, sep, path = item.partition("=")
        if not sep:
            print(f"error: --checkpoint wants LABEL=PATH, got {item!r}", file=sys.stderr)
            return 2
        stage1, _, c = load_stage1(path, "cpu")
        models[label] = Sampler(stage1, None, None, c, "cpu")
    rows = []
    with tempfile.TemporaryDirectory(prefix="dpig-spread-") as tmp:
        for label, sampler in models.items():
            for seed in [PRETRAINED_HELDOUT_SEED, *args.seeds]:
                root = heldout_set(seed, sampler, tmp)
                t0 = time.perf_counter()
                scores, copy = pretrained_scores(sampler, root, progress=False)
                ratios = ground_truth_ratios(scores, copy)
                row = {"model": label, "set_seed": seed,
                       "image_size": "x".join(map(str, sampler.cfg.data.image_size)),
                       **{k: round(ratios[k], 4) for k in COLUMNS},
                       # the parts of the noisiest ratio: is a set hard because the model does
                       # worse there, or because copying the source does better?
                       "pose_transfer_fg_l1": round(score_value(scores, "pose_transfer", FG_L1), 4),
                       "copy_source_fg_l1": round(score_value(copy, "pose_transfer", FG_L1), 4),
                       "reconstruction_fg_l1": round(score_value(scores, "reconstruction",
                                                                 FG_L1), 4),
                       "seconds": round(time.perf_counter() - t0, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    summary = {}
    for label in models:
        mine = [r for r in rows if r["model"] == label]
        others = [r for r in mine if r["set_seed"] != PRETRAINED_HELDOUT_SEED]
        ref = next(r for r in mine if r["set_seed"] == PRETRAINED_HELDOUT_SEED)
        summary[label] = {k: {"mean_other_sets": round(statistics.mean(r[k] for r in others), 4),
                              "std_other_sets": round(statistics.stdev(r[k] for r in others), 4)
                              if len(others) > 1 else None,
                              "min_other_sets": min(r[k] for r in others),
                              "max_other_sets": max(r[k] for r in others),
                              f"seed_{PRETRAINED_HELDOUT_SEED}": ref[k]} for k in COLUMNS}
        print(json.dumps({"summary": label, **summary[label]}), flush=True)
    if args.out:
        doc = {"what": "the four held-out ratios of the same models on independently drawn "
                       "held-out sets (each: generate_synthperson(identities=2, "
                       "images_per_identity=8, test_identities=32) at the model's size and "
                       f"style, {PRETRAINED_HELDOUT['pairs']} pairs per task), beside the "
                       f"seed-{PRETRAINED_HELDOUT_SEED} set the shipped ratios are reported on",
               "command": "python scripts/pretrained_spread.py " + " ".join(argv or sys.argv[1:]),
               "threads": torch.get_num_threads(), "rows": rows, "summary": summary}
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
