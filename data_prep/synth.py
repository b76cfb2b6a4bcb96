"""Generate a SynthPerson dataset (procedural people with known factors) in the real-data format.

Writes ``OUT/{train,test}/`` PNGs, ``synth-annotation-*.csv``, ``synth-pairs-*.csv``,
``synth-factors-*.csv``, ``{split}_mask/`` true foreground masks and ``synth-complete.json``
(:func:`dpiglib.synth.dataset.generate_synthperson`). Running it again with the same arguments returns
at once; other arguments on a complete folder need ``--overwrite``.

Example::

    python -m data_prep.synth --out data/synth --size 128x64 --identities 600 \\
        --images-per-identity 12 --test-identities 100 --seed 0
"""

from __future__ import annotations

import argparse
import re

from data_prep._common import fail
from dpiglib.config import SYNTH_STYLES


def parse_size(text: str) -> tuple[int, int]:
    """``"128x64"`` → (128, 64) (H×W); also accepts ``tiny``, ``market``, ``deepfashion``."""
    from dpiglib.synth.renderer import SIZES

    if text in SIZES:
        return SIZES[text]
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"size must be HxW (e.g. 128x64) or one of {', '.join(SIZES)}; got {text!r}")
    return int(m.group(1)), int(m.group(2))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_prep.synth",
        description="Render a SynthPerson dataset: images, keypoint/pairs/factors CSVs, masks.")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--size", type=parse_size, default=(128, 64),
                   help="HxW: 64x32 (CPU preset), 128x64 (Market-like, default), 256x256 "
                        "(DeepFashion-like)")
    p.add_argument("--identities", type=int, required=True, help="training identities")
    p.add_argument("--images-per-identity", type=int, required=True,
                   help="images per identity (each a new pose and background)")
    p.add_argument("--test-identities", type=int, default=0,
                   help="held-out identities for the test split (default 0)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--style", choices=SYNTH_STYLES, default="market",
                   help="market: street-like backgrounds; deepfashion: plain light backgrounds; "
                        "simple: calm plain/gradient backgrounds (the synth-tiny preset's)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a complete dataset made with other arguments")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.identities < 1:
        fail(f"--identities must be >= 1, got {args.identities}")
    if args.images_per_identity < 1:
        fail(f"--images-per-identity must be >= 1, got {args.images_per_identity}")
    if args.test_identities < 0:
        fail(f"--test-identities must be >= 0, got {args.test_identities}")
    if args.seed < 0:
        fail(f"--seed must be >= 0, got {args.seed}")
    from dpiglib.synth.dataset import SynthError, generate_synthperson

    try:
        summary = generate_synthperson(
            args.out, identities=args.identities, images_per_identity=args.images_per_identity,
            test_identities=args.test_identities, size=args.size, seed=args.seed,
            style=args.style, progress=not args.no_progress, overwrite=args.overwrite)
    except (SynthError, OSError) as e:
        fail(str(e))
    h, w = summary["params"]["size"]
    state = "already complete, nothing written" if summary["reused"] else (
        f"written in {summary['seconds']:.1f} s")
    print(f"SynthPerson {h}x{w} ({args.style}, seed {args.seed}) in {summary['root']}: {state}")
    for split in ("train", "test"):
        c = summary["counts"][split]
        print(f"  {split:5s}: {c['images']} images, {c['identities']} identities, "
              f"{c['pairs']} pairs, {c['all_missing']} all-missing, "
              f"{c['missing_keypoints']} missing keypoints")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
