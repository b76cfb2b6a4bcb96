"""A real-photo mini dataset, offline: one person, 4 synchronised cameras, from the pose2sim wheel.

No package ships Market-1501 or DeepFashion, but the ``pose2sim==0.10.49`` wheel on PyPI (BSD-3)
contains ``Pose2Sim/Demo_SinglePerson/videos/cam01..04.mp4``: one real person filmed by four
synchronised cameras, 100 frames each (1080×1920 portrait, 60 fps). Sampled frames, detected and
cropped like any photo (:mod:`dpiglib.photos.prepare`), give a small real dataset whose same-person pairs
cross both cameras and time: enough to try a trained model on real pixels, not to train a paper
model (one identity).

Getting the wheel is an explicit step (:func:`fetch_pose2sim_wheel`, i.e. ``python -m
data_prep.pose2sim_mini --fetch``), cached under :func:`default_cache_dir`; nothing here touches
the network otherwise. The videos are checked against their SHA-256 so a build is reproducible:
the same seed samples the same frames, and decoding, detection, cropping and PNG writing are
deterministic (same frames → same crop bytes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dpiglib.photos.prepare import (DEFAULT_MARGIN, PREFIX, PhotoReport, SourceImage,
                                    extract_video_frames, parse_size, write_photo_split)

__all__ = [
    "POSE2SIM_VERSION", "WHEEL_NAME", "DEMO_VIDEOS", "FRAMES_PER_VIDEO", "default_cache_dir",
    "fetch_pose2sim_wheel", "extract_demo_videos", "sample_frame_indices", "MiniReport",
    "build_pose2sim_mini", "POSE2SIM_MINI_DIR", "pose2sim_demo_frame", "Pose2simUnavailable",
    "build_run_pose2sim_mini", "run_pose2sim_mini_root",
]

POSE2SIM_VERSION = "0.10.49"
WHEEL_NAME = f"pose2sim-{POSE2SIM_VERSION}-py3-none-any.whl"
_MEMBER_DIR = "Pose2Sim/Demo_SinglePerson/videos/"
#: file name → (bytes, SHA-256) of the four demo videos inside the 0.10.49 wheel.
DEMO_VIDEOS: dict[str, tuple[int, str]] = {
    "cam01.mp4": (387775, "cf4f2816c86bea4bfbea255333d8626ff32a3ecabdab8b0fb147cea9167fde3a"),
    "cam02.mp4": (540548, "94ff87cf978b8406e8aa36ab3c5362e72848994e87652f0dc7a33c315e8e0442"),
    "cam03.mp4": (1709101, "b8b329f832f178f27ecb78d024d5026b96c6adb36c387bfe2c0af85eab8a11ca"),
    "cam04.mp4": (1772999, "b5c0e7863fd70d008e7178d3c556b045b0ea5f78fcd61ca548a0b2e807e641f7"),
}
FRAMES_PER_VIDEO = 100  # every demo video has 100 frames (checked by decoding them)
IDENTITY = "pose2sim-demo-person"


def default_cache_dir() -> Path:
    """``$DPIGLIB_CACHE`` or ``~/.cache/dpiglib`` (wheels go in ``wheels/``)."""
    return Path(os.environ.get("DPIGLIB_CACHE", "~/.cache/dpiglib")).expanduser()


def _wheel_path(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "wheels" / WHEEL_NAME


def fetch_pose2sim_wheel(cache_dir: str | os.PathLike | None = None,
                         quiet: bool = True) -> Path:
    """Download the pose2sim wheel with ``pip download --no-deps`` unless it is already cached.

    This is the only function of the kit that uses the network, and only when called.

    Returns:
        Path of ``CACHE/wheels/pose2sim-0.10.49-py3-none-any.whl``.

    Raises:
        RuntimeError: pip failed (its output is included).
    """
    wheel = _wheel_path(cache_dir)
    if wheel.is_file() and zipfile.is_zipfile(wheel):
        return wheel
    wheel.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           f"pose2sim=={POSE2SIM_VERSION}", "-d", str(wheel.parent)]
    if quiet:
        cmd.append("--quiet")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wheel.is_file():
        raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return wheel


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract_demo_videos(cache_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Unzip only the four demo videos from the cached wheel (reused when already extracted).

    Returns:
        ``{"cam01.mp4": path, ...}`` under ``CACHE/pose2sim-0.10.49/``.

    Raises:
        FileNotFoundError: the wheel is not cached (the message gives the fetch command).
        ValueError: a video's SHA-256 differs from :data:`DEMO_VIDEOS`.
    """
    wheel = _wheel_path(cache_dir)
    dest = wheel.parent.parent / f"pose2sim-{POSE2SIM_VERSION}"
    out: dict[str, Path] = {}
    for name, (nbytes, sha) in DEMO_VIDEOS.items():
        path = dest / name
        if not (path.is_file() and path.stat().st_size == nbytes and _sha256(path) == sha):
            if not wheel.is_file():
                raise FileNotFoundError(
                    f"{wheel} not found: fetch it once with `python -m data_prep.pose2sim_mini "
                    f"--fetch` (runs pip download --no-deps pose2sim=={POSE2SIM_VERSION})")
            dest.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(_MEMBER_DIR + name)
            tmp = path.with_name(name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            if _sha256(path) != sha:
                raise ValueError(f"{path}: SHA-256 differs from the pose2sim {POSE2SIM_VERSION} "
                                 "demo video; delete the cache folder and fetch again")
        out[name] = path
    return out


def sample_frame_indices(frames_per_camera: int, seed: int = 0,
                         n_frames: int = FRAMES_PER_VIDEO) -> np.ndarray:
    """Sorted frame indices drawn without replacement by ``numpy.random.default_rng(seed)``."""
    if not 1 <= frames_per_camera <= n_frames:
        raise ValueError(f"frames_per_camera must be in 1..{n_frames}, got {frames_per_camera}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_frames, size=frames_per_camera, replace=False))


@dataclass
class MiniReport:
    """The two splits of the mini dataset and the frames they came from."""

    train: PhotoReport
    test: PhotoReport
    train_frames: list[int]
    test_frames: list[int]

    @property
    def n_inputs(self) -> int:
        return self.train.n_inputs + self.test.n_inputs

    @property
    def n_written(self) -> int:
        return self.train.n_written + self.test.n_written

    @property
    def detection_rate(self) -> float:
        return self.n_written / self.n_inputs if self.n_inputs else 0.0

    def summary(self) -> str:
        return (f"pose2sim mini dataset: {self.n_written}/{self.n_inputs} frames with a person "
                f"({100 * self.detection_rate:.1f}%)\n  {self.train.summary()}\n  "
                f"{self.test.summary()}")


def build_pose2sim_mini(out: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                        size: str | tuple[int, int] = (128, 64), frames_per_camera: int = 25,
                        test_fraction: float = 0.2, seed: int = 0,
                        margin: float = DEFAULT_MARGIN, estimator: Any = None,
                        progress: Callable[[int], None] | None = None) -> MiniReport:
    """Build the mini dataset from the cached pose2sim demo videos (no network).

    The same ``frames_per_camera`` frame indices (seeded draw) are taken from all four cameras,
    so each time instant is seen from four views. The split is by time: the latest
    ``test_fraction`` of the sampled instants go to ``test``, the rest to ``train``; pairs are every
    ordered pair within a split (one identity: across cameras and across time).

    Args:
        out: dataset root to write (``train/``, ``test/``, ``photos-*`` files).
        cache_dir: where the wheel is cached (default :func:`default_cache_dir`).
        size: (H, W) or ``"128x64"`` / ``"256x256"``.
        frames_per_camera: instants sampled out of the 100 frames.
        test_fraction: share of the instants (the latest ones) put in the test split.
        seed: seed of the frame draw.
        margin: crop margin (:func:`dpiglib.photos.prepare.crop_box`).
        estimator: pose estimator; None creates a MediaPipe one.
        progress: callback with the number of frames processed in the current split.

    Returns:
        :class:`MiniReport`; ``photos-report-{split}.json`` files are written beside the CSVs.
    """
    size = parse_size(size)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    videos = extract_demo_videos(cache_dir)
    frames = sample_frame_indices(frames_per_camera, seed)
    n_test = min(max(1, round(test_fraction * len(frames))), len(frames) - 1)
    if n_test < 1:
        raise ValueError("frames_per_camera must be >= 2 to fill both splits")
    split_frames = {"train": [int(i) for i in frames[:-n_test]],
                    "test": [int(i) for i in frames[-n_test:]]}

    def sources(indices: list[int]):
        for cam, name in enumerate(sorted(videos), start=1):
            for fi, img in extract_video_frames(videos[name], frame_indices=indices):
                yield SourceImage(IDENTITY, cam, fi, f"{name}", fi, img)

    if estimator is None:
        from dpiglib.photos.estimator import MediaPipePoseEstimator

        with MediaPipePoseEstimator() as est:
            reports = {s: write_photo_split(sources(f), out, s, size, est, margin, progress)
                       for s, f in split_frames.items()}
    else:
        reports = {s: write_photo_split(sources(f), out, s, size, estimator, margin, progress)
                   for s, f in split_frames.items()}
    return MiniReport(reports["train"], reports["test"], split_frames["train"],
                      split_frames["test"])


# --------------------------------------------------------------------------------------------
# The mini dataset inside a run directory (notebook 01) and one demo frame (notebook 04)
# --------------------------------------------------------------------------------------------

#: Where the notebooks build the pose2sim mini dataset inside a run directory, at the run's size.
POSE2SIM_MINI_DIR = "pose2sim_mini"


def pose2sim_demo_frame(camera: str = "cam01.mp4", frame: int = 30,
                        cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """A whole frame (1920×1080 portrait, RGB) of a pose2sim demo video: a real photo of one
    person to try things on. Needs the cached wheel (no network; FileNotFoundError naming the
    ``--fetch`` command otherwise)."""
    videos = extract_demo_videos(cache_dir)
    if camera not in videos:
        raise ValueError(f"camera {camera!r}: choose one of {', '.join(sorted(videos))}")
    if not 0 <= int(frame) < FRAMES_PER_VIDEO:
        raise ValueError(f"frame must be in 0..{FRAMES_PER_VIDEO - 1}, got {frame}")
    return next(iter(extract_video_frames(videos[camera], frame_indices=[int(frame)])))[1]


class Pose2simUnavailable(RuntimeError):
    """The mini dataset cannot be built here; the message says how to enable it."""


def build_run_pose2sim_mini(run_dir: str | os.PathLike, size: str | tuple[int, int],
                            frames_per_camera: int = 8, seed: int = 0,
                            cache_dir: str | os.PathLike | None = None) -> Any:
    """Build the pose2sim mini dataset into ``RUN_DIR/pose2sim_mini`` at the run's image size.

    What notebook 01 calls. It never downloads: it builds only when the ``photos`` extra
    (MediaPipe) is installed and the pose2sim wheel is already cached; otherwise it raises
    :class:`Pose2simUnavailable` with the install hint or the exact ``--fetch`` command. A
    previous build in that folder is replaced (the build is reproducible: same seed, same bytes).

    Returns:
        :class:`dpiglib.photos.pose2sim_mini.MiniReport`.
    """
    import shutil

    from dpiglib.photos import estimator as est

    h, w = parse_size(size)
    root = Path(run_dir) / POSE2SIM_MINI_DIR
    fetch = (f"python -m data_prep.pose2sim_mini --fetch --out {root} --size {h}x{w} "
             f"--frames-per-camera {frames_per_camera} --seed {seed}")
    if not est.is_available():
        raise Pose2simUnavailable(
            f"MediaPipe (the optional photos extra) is not installed: {est.INSTALL_HINT}; "
            f"then run: {fetch}")
    try:
        extract_demo_videos(cache_dir)
    except FileNotFoundError:
        raise Pose2simUnavailable(
            f"the pose2sim {POSE2SIM_VERSION} wheel is not in the cache "
            f"({Path(cache_dir or default_cache_dir()) / 'wheels'}). Fetching it is "
            f"an explicit step (pip, about 51 MB, once): {fetch}") from None
    if (root / f"{PREFIX}-annotation-train.csv").exists():
        shutil.rmtree(root)
    return build_pose2sim_mini(root, cache_dir, (h, w), frames_per_camera,
                                             seed=seed)


def run_pose2sim_mini_root(run_dir: str | os.PathLike) -> Path | None:
    """``RUN_DIR/pose2sim_mini`` when notebook 01 (or the printed command) has built it there."""
    root = Path(run_dir) / POSE2SIM_MINI_DIR
    ok = all((root / f"{PREFIX}-annotation-{s}.csv").is_file() for s in ("train", "test"))
    return root if ok else None
