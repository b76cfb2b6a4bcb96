"""Validate a prepared dataset root and print a report; exit 1 when there are errors.

Checks missing files, unreadable images, wrong sizes, malformed or duplicate annotation rows,
out-of-image keypoints and pairs pointing nowhere (:func:`dpiglib.data.validate.validate_dataset`).

Example::

    python -m data_prep.validate ~/data/market_data            # preset guessed from the CSVs
    python -m data_prep.validate ~/data/df --preset deepfashion
    python -m data_prep.validate RUN_DIR/data --size 64 32 --csv report.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from data_prep._common import fail

_PREFIX_PRESET = {"market": "market", "fasion": "deepfashion", "fashion": "deepfashion"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_prep.validate",
                                description="Validate a dataset root (docs/data.md layout).")
    p.add_argument("root", help="dataset root holding train/, test/ and the CSVs")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", default=None,
                   help="preset whose data settings apply (default: market for market-*.csv, "
                        "deepfashion for fasion-/fashion-*.csv, image size of the first image "
                        "for synth-*.csv)")
    g.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="expected image size instead of a preset")
    p.add_argument("--splits", nargs="+", default=["train", "test"], help="splits to check")
    p.add_argument("--no-images", action="store_true",
                   help="skip opening images (faster; existence is still checked)")
    p.add_argument("--csv", default=None, help="also write every finding to this CSV")
    p.add_argument("--max-per-kind", type=int, default=10, help="lines printed per problem kind")
    return p


def _guess_config(root: Path, splits: list[str]):
    """DataConfig for the first prefix found under ``root``."""
    from dataclasses import replace

    from dpiglib.config import get_preset
    from dpiglib.data.datasets import find_dataset_files, load_image, read_annotation_csv

    for split in splits:
        try:
            files = find_dataset_files(root, split)
        except Exception:  # noqa: BLE001  (reported properly by the validation itself)
            continue
        if files.prefix in _PREFIX_PRESET:
            return get_preset(_PREFIX_PRESET[files.prefix]).data
        names = [n for n in read_annotation_csv(files.annotation)
                 if (files.image_dir / n).is_file()]
        if names:
            w, h = load_image(files.image_dir / names[0]).size
            return replace(get_preset("synth").data, image_height=h, image_width=w)
    return get_preset("market").data


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dpiglib.config import ConfigError, get_preset
    from dpiglib.data.datasets import DatasetError
    from dpiglib.data.validate import validate_dataset

    root = Path(args.root)
    if not root.is_dir():
        fail(f"dataset root {root} does not exist or is not a folder")
    if args.size is not None and min(args.size) < 1:
        fail(f"--size must be two positive integers, got {args.size}")
    try:
        if args.size is not None:
            target = tuple(args.size)
        elif args.preset is not None:
            target = get_preset(args.preset).data
        else:
            target = _guess_config(root, args.splits)
        report = validate_dataset(root, target, tuple(args.splits),
                                  check_images=not args.no_images)
    except (ConfigError, DatasetError) as e:
        fail(str(e))
    print(report.format(max_per_kind=args.max_per_kind))
    if args.csv:
        report.to_frame().to_csv(args.csv, index=False)
        print(f"findings written to {args.csv}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
