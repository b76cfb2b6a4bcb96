"""Keypoints for your own photos or a video: detect, crop, annotate → a kit dataset split.

Each image (or every ``--every-n``-th video frame) goes through MediaPipe Pose (the optional
``[photos]`` extra, see docs/own_photos.md); the person is cropped with a margin to the target
aspect ratio, resized, and written as ``OUT/{split}/PPPP_cC_FFFFFF.png`` with
``photos-annotation-{split}.csv``, ``photos-pairs-{split}.csv`` (same-identity pairs),
``photos-sources-{split}.csv`` and ``photos-report-{split}.json`` (which inputs had no person).

Identity comes from the folder structure (``SRC/PERSON/*.jpg``: one subfolder per person) or from
``--identity-csv`` (columns ``image,identity``, paths relative to SRC). Example::

    python -m data_prep.photos --src my_photos/ --out data/my_photos --size 128x64
    python -m data_prep.photos --src walk.mp4 --out data/walk --every-n 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

from data_prep._common import fail


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_prep.photos",
        description="Detect one person per photo/frame with MediaPipe Pose, crop and write the "
                    "kit's dataset format (images, annotation CSV, pairs CSV).")
    p.add_argument("--src", required=True,
                   help="folder of photos (one subfolder per person) or a video file")
    p.add_argument("--out", required=True, help="dataset root to write")
    p.add_argument("--size", default="128x64",
                   help="crop size HxW: 128x64 (Market-like, default) or 256x256")
    p.add_argument("--identity-csv", default=None,
                   help="CSV with columns image,identity (paths relative to --src) instead of "
                        "one subfolder per person")
    p.add_argument("--split", default="test", help="split to write (default: test)")
    p.add_argument("--every-n", type=int, default=10,
                   help="videos: keep every n-th frame (default: 10)")
    p.add_argument("--max-frames", type=int, default=None, help="videos: at most this many frames")
    p.add_argument("--margin", type=float, default=0.15,
                   help="crop margin as a fraction of the keypoint span (default: 0.15)")
    p.add_argument("--force", action="store_true", help="overwrite an existing split")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dpiglib.photos import estimator, prepare as photos

    try:
        size = photos.parse_size(args.size)
    except ValueError as e:
        fail(str(e))
    src, out = Path(args.src), Path(args.out)
    if not src.exists():
        fail(f"--src {src} does not exist")
    identity_from = "folders"
    if args.identity_csv is not None:
        if not Path(args.identity_csv).is_file():
            fail(f"--identity-csv {args.identity_csv} not found")
        identity_from = args.identity_csv
    if args.every_n < 1:
        fail(f"--every-n must be >= 1, got {args.every_n}")
    if args.max_frames is not None and args.max_frames < 1:
        fail(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.margin < 0:
        fail(f"--margin must be >= 0, got {args.margin}")
    if (out / f"{photos.PREFIX}-annotation-{args.split}.csv").exists() and not args.force:
        fail(f"{out} already holds a {args.split!r} split; pass --force to overwrite it")
    try:
        estimator.require()
    except ImportError as e:
        fail(str(e))
    try:
        report = photos.prepare_photo_folder(src, out, size, identity_from, args.split,
                                             args.every_n, args.max_frames, args.margin)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    print(report.summary())
    for line in report.no_person[:20]:
        print(f"  no person: {line}")
    if len(report.no_person) > 20:
        print(f"  ... {len(report.no_person) - 20} more in "
              f"{photos.PREFIX}-report-{args.split}.json")
    if report.n_written == 0:
        fail("no person found in any input; nothing usable was written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
