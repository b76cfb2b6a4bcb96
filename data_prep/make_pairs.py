"""Build ``{prefix}-pairs-{split}.csv`` from a dataset root's annotation CSV.

Rules (:func:`dpiglib.data.datasets.build_pairs`):

* ``dpig``: every ordered pair of distinct images of one identity, all-missing rows excluded
  (orig §2.6; the original's ``same_diff_cam`` positives);
* ``defgan``: Def-GAN/PATN ``create_pairs_dataset.py``: shoulders and hips present, no ``-1``/
  ``0000`` names, ordered permutations; the test split is subsampled to 12,000 pairs with
  ``DataFrame.sample(random_state=0)`` as in the released ``market-pairs-test.csv``.

Example::

    python -m data_prep.make_pairs ROOT --split test --rule defgan
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from data_prep._common import fail

DEFGAN_TEST_PAIRS = 12_000  # images_for_test in Def-GAN's cmd.py


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_prep.make_pairs",
        description="Build a pairs CSV (from,to) from ROOT/{prefix}-annotation-{split}.csv.")
    p.add_argument("root", help="dataset root holding SPLIT/ and the annotation CSV")
    p.add_argument("--split", default="train", help="split folder name (default: train)")
    p.add_argument("--rule", choices=("dpig", "defgan"), default="dpig",
                   help="dpig: all same-identity ordered pairs; defgan: Def-GAN/PATN filter")
    p.add_argument("--dataset", choices=("market", "deepfashion", "synth"), default=None,
                   help="how identities are parsed (default: from the CSV prefix)")
    p.add_argument("--max-pairs", type=int, default=None,
                   help="seeded subsample size (default: 12000 for --rule defgan --split test, "
                        "else all; 0 = all)")
    p.add_argument("--seed", type=int, default=0, help="random_state of the subsample (0)")
    p.add_argument("--out", default=None,
                   help="output CSV (default: ROOT/{prefix}-pairs-{split}.csv)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--skip-missing-images", action="store_true",
                   help="leave out annotated names whose image file is missing (default: error)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dpiglib.data.datasets import DatasetError, find_dataset_files, read_annotation_csv
    from dpiglib.data.annotations import build_pairs
    from dpiglib.data.datasets import identity_of, is_all_missing
    from dpiglib.data.annotations import write_pairs_csv

    if args.max_pairs is not None and args.max_pairs < 0:
        fail(f"--max-pairs must be >= 0, got {args.max_pairs}")
    try:
        files = find_dataset_files(args.root, args.split, args.dataset)
        dataset = args.dataset or files.dataset
        out = Path(args.out) if args.out else files.root / f"{files.prefix}-pairs-{args.split}.csv"
        if out.exists() and not args.force:
            fail(f"{out} exists; pass --force to overwrite it")
        if not out.parent.is_dir():
            fail(f"output folder {out.parent} does not exist")
        ann = read_annotation_csv(files.annotation)
        present = set(os.listdir(files.image_dir))
        missing = [n for n in ann if n not in present]
        if missing and not args.skip_missing_images:
            fail(f"{len(missing)} annotated image(s) missing from {files.image_dir}, e.g. "
                 f"{', '.join(missing[:3])} (pass --skip-missing-images to leave them out)")
        names = [n for n in ann if n in present]
        max_pairs = args.max_pairs
        if max_pairs is None:
            max_pairs = DEFGAN_TEST_PAIRS if (args.rule == "defgan" and args.split == "test") \
                else 0
        pairs = build_pairs(names, ann, args.rule, dataset, max_pairs=max_pairs, seed=args.seed)
    except (DatasetError, ValueError) as e:
        fail(str(e))
    write_pairs_csv(out, pairs)
    n_ids = len({identity_of(n, dataset) for n in names})
    n_empty = sum(is_all_missing(ann[n]) for n in names)
    print(f"wrote {len(pairs)} pairs ({args.rule} rule, {len(names)} images, {n_ids} identities, "
          f"{n_empty} all-missing rows excluded"
          + (f", subsampled to <= {max_pairs} with seed {args.seed}" if max_pairs else "")
          + f") to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
