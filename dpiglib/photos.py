"""Your own photos and videos as a kit dataset: detect, crop to the dataset's shape, annotate.

DPIG trains and tests on person crops with 18 OpenPose keypoints in the Def-GAN/PATN file format
(orig §2.1-2.2, orig §2.8). This module turns any photos or videos of people into
that format, so the same notebooks and the ``dpig`` commands run on them:

1. one person per image is found with :class:`dpiglib.estimator.MediaPipePoseEstimator`;
2. :func:`crop_box` frames the detected keypoints with a margin and grows the box to the target
   aspect ratio (H/W = 2 for Market's 128×64); :func:`crop_person` cuts it out (grey padding where
   the box leaves the photo) and resizes with PIL, so every detected keypoint stays inside;
3. :func:`write_photo_split` writes ``photos-annotation-{split}.csv`` and
   ``photos-pairs-{split}.csv`` (same-identity ordered pairs, DPIG rule, orig §2.6) with
   Market-style names ``PPPP_cC_FFFFFF.png`` (identity = ``name.split('_')[0]``), a sources CSV
   that traces every crop back to its file/frame, and a JSON report listing the images where no
   person was found (never dropped silently).

:func:`prepare_photo_folder` does this for a folder (one subfolder per person, or an identity CSV)
or a single video; :func:`build_pose2sim_mini` (in :mod:`dpiglib.pose2sim_mini`) builds the
real-photo mini dataset from the pose2sim demo videos (:func:`build_run_pose2sim_mini`: into a
run directory, at the run's size, never fetching). "One photo, new pose":
:func:`person_from_photo` turns one photo into a model input (same detection and crop), and
:func:`photo_transfer`, behind ``dpig transfer`` and notebook 04, renders a photo's or a dataset
image's person in another photo's, a dataset image's or a sampled pose. MediaPipe is an optional
extra, imported only when an estimator is created; torch only by the transfer functions.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from dpiglib import annotations

__all__ = [
    "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "PREFIX", "PAD_VALUE", "SourceImage", "PhotoReport",
    "parse_size", "crop_box", "crop_person", "extract_video_frames", "iter_sources",
    "write_photo_split", "prepare_photo_folder", "build_pose2sim_mini",
    "SAMPLED", "POSE2SIM_MINI_DIR", "PhotoInputError", "PhotoNotFoundError", "NoPersonError",
    "read_photo", "PhotoPerson", "person_from_photo", "pose_drawing", "TransferResult",
    "resolve_transfer_inputs", "photo_transfer", "pose2sim_demo_frame", "Pose2simUnavailable",
    "build_run_pose2sim_mini", "run_pose2sim_mini_root",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
PREFIX = "photos"  # {PREFIX}-annotation-{split}.csv, {PREFIX}-pairs-{split}.csv
PAD_VALUE = (128, 128, 128)  # neutral grey where the crop box leaves the photo (docs/own_photos.md)
DEFAULT_MARGIN = 0.15  # Market crops: nose at row ~14 and ankles at ~112 of 128 (≈ 0.15 × span)


# --------------------------------------------------------------------------------------------
# Geometry: crop box and crop
# --------------------------------------------------------------------------------------------


def parse_size(size: str | tuple[int, int]) -> tuple[int, int]:
    """``"128x64"`` or ``(128, 64)`` → (H, W); raises ValueError naming the bad value."""
    if isinstance(size, str):
        parts = size.lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"size {size!r}: expected HEIGHTxWIDTH, e.g. 128x64 or 256x256")
        size = (int(parts[0]), int(parts[1]))
    h, w = (int(v) for v in size)
    if h < 8 or w < 8:
        raise ValueError(f"size {size!r}: height and width must be at least 8 pixels")
    return h, w


def crop_box(rcv: np.ndarray, size: tuple[int, int], margin: float = DEFAULT_MARGIN,
             min_span: float = 16.0) -> tuple[float, float, float, float]:
    """The crop around a person: the keypoints' bounding box plus a margin, at the size's aspect.

    The margin is ``margin × max(keypoint-box height, keypoint-box width, min_span)`` on every side
    (at least 1 px, so no keypoint lands on the border); then the shorter side grows, about the
    centre, until height / width equals ``size[0] / size[1]``. The box may extend past the photo.

    Args:
        rcv: (18, 3) (row, col, visible) in pixels of the photo; at least one visible keypoint.
        size: target (H, W); only its aspect ratio matters here.
        margin: fraction of the keypoint span added on each side (0.15 ≈ Market's framing).
        min_span: span used when the keypoints are closer together (e.g. a single keypoint).

    Returns:
        (top, left, height, width) in photo pixels (floats); every visible keypoint lies strictly
        inside ``[top, top + height) × [left, left + width)``.
    """
    rcv = np.asarray(rcv, dtype=np.float64)
    vis = rcv[:, 2] > 0
    if rcv.shape != (18, 3) or not vis.any():
        raise ValueError(f"crop_box: need an (18, 3) rcv with a visible keypoint, got shape "
                         f"{rcv.shape} with {int(vis.sum()) if rcv.ndim == 2 else 0} visible")
    if margin < 0:
        raise ValueError(f"crop_box: margin must be >= 0, got {margin}")
    rows, cols = rcv[vis, 0], rcv[vis, 1]
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    pad = max(margin * max(r1 - r0, c1 - c0, min_span), 1.0)
    top, bottom, left, right = r0 - pad, r1 + pad, c0 - pad, c1 + pad
    h, w = bottom - top, right - left
    aspect = size[0] / size[1]
    if h / w < aspect:  # too wide: grow the height (a person with arms spread, a 256x256 crop)
        grow = w * aspect - h
        top, h = top - grow / 2, w * aspect
    else:
        grow = h / aspect - w
        left, w = left - grow / 2, h / aspect
    return float(top), float(left), float(h), float(w)


def crop_person(image: np.ndarray, rcv: np.ndarray, size: tuple[int, int],
                margin: float = DEFAULT_MARGIN,
                pad_value: tuple[int, int, int] = PAD_VALUE) -> tuple[np.ndarray, np.ndarray]:
    """Cut the person out at ``size``: :func:`crop_box`, grey padding, PIL bicubic resize.

    Args:
        image: uint8 (H0, W0, 3) RGB photo.
        rcv: (18, 3) keypoints in photo pixels (from the estimator).
        size: output (H, W), e.g. (128, 64) or (256, 256).
        margin: see :func:`crop_box`.
        pad_value: RGB colour of the parts of the box outside the photo.

    Returns:
        ``(crop, rcv_crop)``: uint8 (H, W, 3) and float32 (18, 3) keypoints in crop pixels, every
        visible one inside ``[0, H) × [0, W)``; missing keypoints stay (0, 0, 0).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image: expected uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    out_h, out_w = size
    top, left, h, w = crop_box(rcv, size, margin)
    # Copy only the integer hull of the box onto a grey canvas, then let PIL resample the exact
    # float box: the aspect ratio stays exact and keypoints map by one affine formula.
    y0, x0 = math.floor(top), math.floor(left)
    y1, x1 = math.ceil(top + h), math.ceil(left + w)
    canvas = np.empty((y1 - y0, x1 - x0, 3), dtype=np.uint8)
    canvas[...] = np.asarray(pad_value, dtype=np.uint8)
    sy0, sx0 = max(y0, 0), max(x0, 0)
    sy1, sx1 = min(y1, image.shape[0]), min(x1, image.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    box = (left - x0, top - y0, left - x0 + w, top - y0 + h)  # PIL order: (x0, y0, x1, y1)
    # PIL's resize widens its filter when shrinking (antialiasing), unlike a plain interpolation.
    crop = Image.fromarray(canvas).resize((out_w, out_h), Image.Resampling.BICUBIC, box=box)
    out = np.zeros((18, 3), dtype=np.float32)
    vis = np.asarray(rcv)[:, 2] > 0
    rows = (np.asarray(rcv)[vis, 0] - top) * (out_h / h)
    cols = (np.asarray(rcv)[vis, 1] - left) * (out_w / w)
    # The 1-px-minimum margin keeps them inside; the clip only absorbs float rounding.
    out[vis, 0] = np.clip(rows, 0, np.nextafter(out_h, 0))
    out[vis, 1] = np.clip(cols, 0, np.nextafter(out_w, 0))
    out[vis, 2] = 1.0
    return np.asarray(crop), out


# --------------------------------------------------------------------------------------------
# Inputs: photos, video frames, identities
# --------------------------------------------------------------------------------------------


@dataclass
class SourceImage:
    """One input image before detection: its pixels and where it came from."""

    identity: str  # person label from the folder name or the identity CSV
    camera: int  # 0 = photos; 1, 2, ... = the person's videos in sorted order
    index: int  # photo number within (identity, camera), or the video frame index
    source: str  # file path (for the sources CSV and the no-person list)
    frame: int | None = None  # video frame index, None for photos
    image: np.ndarray | None = None  # uint8 (H, W, 3) RGB; None when unreadable
    error: str = ""  # why it could not be read


def extract_video_frames(video: str | os.PathLike, every_n: int = 1,
                         max_frames: int | None = None,
                         frame_indices: Iterable[int] | None = None,
                         ) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a video and yield ``(frame_index, uint8 (H, W, 3) RGB)`` for the chosen frames.

    Frames are read sequentially (seeking is not frame-exact for every codec), so the same call
    always yields the same frames. Uses OpenCV (``opencv-python-headless``, installed with the
    MediaPipe extra); without it falls back to ``imageio.v3`` (needs its pyav or ffmpeg plugin).

    Args:
        video: path of the video file.
        every_n: keep frames 0, n, 2n, ... (ignored when ``frame_indices`` is given).
        max_frames: stop after this many kept frames.
        frame_indices: explicit frame indices to keep (0-based).
    """
    path = Path(video)
    if not path.is_file():
        raise FileNotFoundError(f"video {str(path)!r} not found")
    if every_n < 1:
        raise ValueError(f"every_n must be >= 1, got {every_n}")
    wanted = None if frame_indices is None else set(int(i) for i in frame_indices)
    last = None if wanted is None else max(wanted, default=-1)
    kept = 0
    for i, frame in _decode(path):
        if last is not None and i > last:
            break
        if (i in wanted) if wanted is not None else (i % every_n == 0):
            yield i, frame
            kept += 1
            if max_frames is not None and kept >= max_frames:
                break


def _decode(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ValueError(f"video {str(path)!r}: OpenCV cannot open it")
        try:
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield i, np.ascontiguousarray(bgr[..., ::-1])  # OpenCV decodes to BGR
                i += 1
        finally:
            cap.release()
        return
    try:
        import imageio.v3 as iio
        for i, frame in enumerate(iio.imiter(path)):
            yield i, np.ascontiguousarray(np.asarray(frame)[..., :3], dtype=np.uint8)
    except Exception as exc:  # imageio without a video plugin raises various errors
        raise ImportError(
            f"cannot decode video {str(path)!r}: install opencv-python-headless (comes with the "
            f"MediaPipe extra) or imageio with pyav ({exc})") from exc


def _read_photo(path: Path) -> tuple[np.ndarray | None, str]:
    try:
        with Image.open(path) as im:
            # Phone photos store their orientation in EXIF; keypoints must match what people see.
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB")), ""
    except Exception as exc:  # unreadable / truncated files are reported, not fatal
        return None, f"unreadable image: {exc}"


def _sources_of_person(identity: str, files: list[Path], every_n: int,
                       max_frames: int | None) -> Iterator[SourceImage]:
    photos = sorted(p for p in files if p.suffix.lower() in IMAGE_SUFFIXES)
    videos = sorted(p for p in files if p.suffix.lower() in VIDEO_SUFFIXES)
    for i, p in enumerate(photos):
        img, err = _read_photo(p)
        yield SourceImage(identity, 0, i, str(p), None, img, err)
    for cam, v in enumerate(videos, start=1):
        for fi, frame in extract_video_frames(v, every_n, max_frames):
            yield SourceImage(identity, cam, fi, str(v), fi, frame)


def iter_sources(src: str | os.PathLike, identity_from: str | os.PathLike = "folders",
                 every_n: int = 10, max_frames: int | None = None) -> Iterator[SourceImage]:
    """Yield the input images of ``src`` with their identities, in a fixed (sorted) order.

    * ``src`` is a video: one identity (the file stem), frames ``0, every_n, ...``.
    * ``identity_from="folders"``: each subfolder of ``src`` is one person (photos and videos
      inside it); photos directly in ``src`` are each their own person (no pairs).
    * ``identity_from=CSV``: a CSV with columns ``image,identity`` (image paths relative to
      ``src``); videos listed there work too.

    Raises:
        FileNotFoundError / ValueError: missing ``src``, an empty folder, a CSV without the
            columns or naming a file that does not exist (with its line).
    """
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"--src {str(src)!r} does not exist")
    if src.is_file():
        if src.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"--src {str(src)!r}: a file must be a video "
                             f"({', '.join(VIDEO_SUFFIXES)}); for photos pass their folder")
        yield from _sources_of_person(src.stem, [src], every_n, max_frames)
        return
    media = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    if str(identity_from) == "folders":
        groups: dict[str, list[Path]] = {}
        for p in sorted(src.iterdir()):
            if p.is_dir():
                files = [f for f in sorted(p.rglob("*"))
                         if f.is_file() and f.suffix.lower() in media]
                if files:
                    groups[p.name] = files
            elif p.suffix.lower() in media:
                if p.stem in groups:
                    raise ValueError(f"{str(p)!r}: its name {p.stem!r} is also a person folder; "
                                     "rename one of them")
                groups[p.stem] = [p]
    else:
        groups = _groups_from_csv(src, Path(identity_from), media)
    if not groups:
        raise ValueError(f"--src {str(src)!r} holds no photos or videos "
                         f"({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})")
    for identity, files in groups.items():
        yield from _sources_of_person(identity, files, every_n, max_frames)


def _groups_from_csv(src: Path, csv_path: Path, media: tuple[str, ...]) -> dict[str, list[Path]]:
    if not csv_path.is_file():
        raise FileNotFoundError(f"identity CSV {str(csv_path)!r} not found")
    groups: dict[str, list[Path]] = {}
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"image", "identity"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path}: expected a header with columns 'image,identity', got "
                             f"{reader.fieldnames}")
        for row in reader:
            line = reader.line_num
            path, ident = (row["image"] or "").strip(), (row["identity"] or "").strip()
            if not path or not ident:
                raise ValueError(f"{csv_path}, line {line}: empty image or identity")
            p = src / path
            if not p.is_file() or p.suffix.lower() not in media:
                raise ValueError(f"{csv_path}, line {line}: {str(p)!r} is not an existing photo "
                                 "or video")
            groups.setdefault(ident, []).append(p)
    return groups


# --------------------------------------------------------------------------------------------
# Writing a split
# --------------------------------------------------------------------------------------------


@dataclass
class PhotoReport:
    """What one prepared split contains; written as ``photos-report-{split}.json``."""

    root: str
    split: str
    size: tuple[int, int]
    n_inputs: int = 0  # images and video frames looked at
    n_written: int = 0  # crops written (one per detected person)
    n_identities: int = 0
    n_pairs: int = 0
    no_person: list[str] = field(default_factory=list)  # "path" or "path#frame", with the reason
    identities: dict[str, str] = field(default_factory=dict)  # "0001" → folder / CSV label
    per_camera: dict[str, list[int]] = field(default_factory=dict)  # "c1" → [written, inputs]
    seconds_per_image: float = 0.0  # mean estimator time (0 with a non-timing estimator)

    @property
    def detection_rate(self) -> float:
        return self.n_written / self.n_inputs if self.n_inputs else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = list(self.size)
        d["detection_rate"] = round(self.detection_rate, 4)
        return d

    def summary(self) -> str:
        return (f"{self.split}: {self.n_written}/{self.n_inputs} images with a person "
                f"({100 * self.detection_rate:.1f}%), {self.n_identities} identities, "
                f"{self.n_pairs} pairs, {self.size[0]}x{self.size[1]} → {self.root}"
                + (f"; {len(self.no_person)} without a person listed in "
                   f"{PREFIX}-report-{self.split}.json" if self.no_person else ""))


def write_photo_split(sources: Iterable[SourceImage], out: str | os.PathLike, split: str,
                      size: tuple[int, int], estimator: Any, margin: float = DEFAULT_MARGIN,
                      progress: Callable[[int], None] | None = None) -> PhotoReport:
    """Detect, crop and write one split in the kit's dataset format.

    Writes ``OUT/{split}/PPPP_cC_FFFFFF.png``, ``photos-annotation-{split}.csv``,
    ``photos-pairs-{split}.csv`` (DPIG rule: every ordered same-identity pair),
    ``photos-sources-{split}.csv`` (name, identity label, source file, frame) and
    ``photos-report-{split}.json`` (the :class:`PhotoReport`, including every input where no
    person was found). Identities get 4-digit ids in order of first appearance.

    Args:
        sources: the inputs, e.g. from :func:`iter_sources`.
        out: dataset root (created).
        split: ``"train"`` or ``"test"``.
        size: (H, W) of the crops.
        estimator: anything with ``detect(image) -> rcv (18, 3) | None`` (normally a
            :class:`~dpiglib.estimator.MediaPipePoseEstimator`).
        margin: crop margin (:func:`crop_box`).
        progress: called with the number of inputs processed so far.
    """
    size = parse_size(size)
    root = Path(out)
    img_dir = root / split
    img_dir.mkdir(parents=True, exist_ok=True)
    report = PhotoReport(root=str(root), split=split, size=size)
    ids: dict[str, str] = {}
    names: list[str] = []
    written: set[str] = set()
    rcvs: list[np.ndarray] = []
    rows: list[tuple[str, str, str, str]] = []
    for src in sources:
        report.n_inputs += 1
        cam = report.per_camera.setdefault(f"c{src.camera}", [0, 0])
        cam[1] += 1
        where = src.source + ("" if src.frame is None else f"#{src.frame}")
        rcv = None if src.image is None else estimator.detect(src.image)
        if rcv is None:
            report.no_person.append(f"{where}: {src.error or 'no person detected'}")
        else:
            pid = ids.setdefault(src.identity, f"{len(ids) + 1:04d}")
            crop, rcv_crop = crop_person(src.image, rcv, size, margin)
            name = f"{pid}_c{src.camera}_{src.index:06d}.png"
            if name in written:
                raise ValueError(f"two inputs map to {name!r} ({where}); identity labels must be "
                                 "unique")
            # PNG is lossless and compress_level fixed, so rebuilding gives identical bytes.
            Image.fromarray(crop).save(img_dir / name, compress_level=6)
            names.append(name)
            written.add(name)
            rcvs.append(rcv_crop)
            frame = "" if src.frame is None else str(src.frame)
            rows.append((name, src.identity, src.source, frame))
            cam[0] += 1
        if progress is not None:
            progress(report.n_inputs)
    annotations.write_annotation_csv(root / f"{PREFIX}-annotation-{split}.csv", names, rcvs)
    pairs = annotations.build_pairs(names, rcvs, rule="dpig", dataset="market")
    annotations.write_pairs_csv(root / f"{PREFIX}-pairs-{split}.csv", pairs)
    with open(root / f"{PREFIX}-sources-{split}.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "identity", "source", "frame"])
        w.writerows(rows)
    report.n_written, report.n_pairs = len(names), len(pairs)
    report.n_identities = len(ids)
    report.identities = {v: k for k, v in ids.items()}
    report.seconds_per_image = round(float(getattr(estimator, "seconds_per_image", 0.0)), 4)
    (root / f"{PREFIX}-report-{split}.json").write_text(
        json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report


def prepare_photo_folder(src: str | os.PathLike, out: str | os.PathLike,
                         size: str | tuple[int, int] = (128, 64),
                         identity_from: str | os.PathLike = "folders", split: str = "test",
                         every_n: int = 10, max_frames: int | None = None,
                         margin: float = DEFAULT_MARGIN, estimator: Any = None,
                         progress: Callable[[int], None] | None = None) -> PhotoReport:
    """Photos (one subfolder per person, or an identity CSV) or one video → a kit dataset split.

    Args:
        src: folder of photos/videos, or a video file.
        out: dataset root to write (``OUT/{split}/`` + ``photos-*-{split}.csv``).
        size: (H, W) or ``"128x64"`` (Market-like) / ``"256x256"`` (DeepFashion-like).
        identity_from: ``"folders"`` or the path of an ``image,identity`` CSV
            (:func:`iter_sources`).
        split: which split to write (``"test"``: your photos are usually for trying a model).
        every_n, max_frames: video frame sampling (:func:`extract_video_frames`).
        margin: crop margin (:func:`crop_box`).
        estimator: a pose estimator; None creates a MediaPipe one (ImportError with the install
            hint when MediaPipe is not installed).
        progress: callback with the number of inputs processed.

    Returns:
        The :class:`PhotoReport` (also written as JSON beside the CSVs).
    """
    size = parse_size(size)
    sources = iter_sources(src, identity_from, every_n, max_frames)
    if estimator is not None:
        return write_photo_split(sources, out, split, size, estimator, margin, progress)
    from dpiglib.estimator import MediaPipePoseEstimator

    with MediaPipePoseEstimator() as est:
        return write_photo_split(sources, out, split, size, est, margin, progress)


def build_pose2sim_mini(*args: Any, **kwargs: Any) -> Any:
    """The real-photo mini dataset; see :func:`dpiglib.pose2sim_mini.build_pose2sim_mini`."""
    from dpiglib.pose2sim_mini import build_pose2sim_mini as build

    return build(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# One photo, new pose: any photo (or a dataset image) as model input, and pose transfer
# --------------------------------------------------------------------------------------------

#: The target string meaning "a pose drawn from the run's Stage-II pose mapping Φ_pose(z)".
SAMPLED = "sampled"
#: Where the notebooks build the pose2sim mini dataset inside a run directory, at the run's size.
POSE2SIM_MINI_DIR = "pose2sim_mini"


class PhotoInputError(ValueError):
    """A photo or image name given for pose transfer cannot be used; the message says why."""


class PhotoNotFoundError(PhotoInputError, FileNotFoundError):
    """The photo file does not exist (and the string is no annotated image of the dataset)."""


class NoPersonError(PhotoInputError):
    """The pose estimator found no person in the photo."""


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as uint8 (H, W, 3) RGB, EXIF orientation applied (as the dataset writer does).

    Raises:
        PhotoNotFoundError: no such file.
        PhotoInputError: a folder, or a file PIL cannot read as an image.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise PhotoNotFoundError(f"photo {str(p)!r} not found")
    if not p.is_file():
        raise PhotoInputError(f"photo {str(p)!r} is a folder, not an image file")
    img, err = _read_photo(p)
    if img is None:
        raise PhotoInputError(f"photo {str(p)!r} cannot be read as an image "
                              f"({err.removeprefix('unreadable image: ')})")
    return img


@dataclass
class PhotoPerson:
    """The person found in a photo, cropped for a model of size (H, W).

    Attributes:
        name: file name of the photo (or the label given for an array).
        photo: the whole photo, uint8 (H0, W0, 3) RGB.
        photo_rcv: float32 (18, 3) detected keypoints in photo pixels.
        crop: uint8 (H, W, 3): :func:`crop_person` at the model's size.
        rcv: float32 (18, 3) keypoints in crop pixels, truncated to integers like the annotation
            CSVs, so a photo used directly gives the model the same input as the same photo
            prepared with :func:`prepare_photo_folder` and loaded by name.
    """

    name: str
    photo: np.ndarray
    photo_rcv: np.ndarray
    crop: np.ndarray
    rcv: np.ndarray

    def item(self) -> dict[str, Any]:
        """The model input, like a dataset item: ``image`` (3, H, W) in [−1, 1], ``rcv``,
        ``name``."""
        import torch

        from dpiglib.data import _to_tensor  # the dataset's own uint8 → [−1, 1] conversion

        return {"image": _to_tensor(self.crop), "rcv": torch.from_numpy(self.rcv.copy()),
                "name": self.name}


def person_from_photo(photo: str | os.PathLike | np.ndarray, size: str | tuple[int, int],
                      estimator: Any = None, margin: float = DEFAULT_MARGIN,
                      name: str | None = None) -> PhotoPerson:
    """Detect the one person in a photo and crop it at ``size`` (the model's input size).

    Args:
        photo: a file path, or a uint8 (H, W, 3) RGB array.
        size: (H, W) of the model, e.g. ``sampler.size``.
        estimator: anything with ``detect(image) -> rcv | None``; None creates (and closes) a
            MediaPipe one, which raises an ImportError with the install hint when the optional
            extra is missing.
        margin: crop margin (:func:`crop_box`).
        name: label for an array (default ``"photo"``; a path's file name otherwise).

    Raises:
        PhotoNotFoundError, PhotoInputError: missing or unreadable file (:func:`read_photo`).
        NoPersonError: "no person found in PHOTO".
    """
    size = parse_size(size)
    if isinstance(photo, np.ndarray):
        image, label = photo, name or "photo"
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise PhotoInputError(f"{label}: expected a uint8 (H, W, 3) RGB array, got "
                                  f"{image.dtype} {image.shape}")
    else:
        image, label = read_photo(photo), name or Path(photo).name
    if estimator is None:
        from dpiglib.estimator import MediaPipePoseEstimator

        with MediaPipePoseEstimator() as est:
            rcv = est.detect(image)
    else:
        rcv = estimator.detect(image)
    if rcv is None:
        where = label if isinstance(photo, np.ndarray) else str(photo)
        raise NoPersonError(f"no person found in {where!r} (MediaPipe Pose detects one person "
                            "seen whole or in part; try a photo where the person is larger)")
    return _cropped_person(label, image, rcv, size, margin)


def _cropped_person(name: str, image: np.ndarray, rcv: np.ndarray, size: tuple[int, int],
                    margin: float) -> PhotoPerson:
    crop, rcv_crop = crop_person(image, rcv, size, margin)
    vis = rcv_crop[:, 2] > 0
    rcv_crop[vis, :2] = np.trunc(rcv_crop[vis, :2])
    return PhotoPerson(name, image, np.asarray(rcv, np.float32), crop, rcv_crop)


def pose_drawing(rcv: Any, data_cfg: Any) -> Any:
    """A pose as a picture (3, H, W) in [−1, 1]: limbs (the pose mask) light grey on white and
    the generator's keypoint disks dark; shows a target pose that has no image (``sampled``)."""
    import torch

    from dpiglib.pose import pose_heatmap, pose_mask

    r = np.asarray(rcv.detach().cpu() if hasattr(rcv, "detach") else rcv, np.float32)
    size = data_cfg.image_size
    mask = np.asarray(pose_mask(r, size, data_cfg.mask_radius)) > 0
    disks = (np.asarray(pose_heatmap(r, size, data_cfg.heatmap_radius)) > 0).any(0)
    tile = np.ones(size, np.float32)
    tile[mask] = 0.5
    tile[disks] = -0.6
    return torch.from_numpy(np.repeat(tile[None], 3, 0))


@dataclass
class TransferResult:
    """One pose transfer: the source's person in the target's pose (:func:`photo_transfer`).

    Attributes:
        source: the model input of the source (``image`` (3, H, W) in [−1, 1], ``rcv``, ``name``).
        target_image: (3, H, W): the target's image, or :func:`pose_drawing` for ``sampled``.
        target_rcv: (18, 3) the pose the generator draws, in model pixels.
        generated: (3, H, W) in [−1, 1].
        source_kind, target_kind: ``"photo"``, ``"dataset"`` or (target only) ``"sampled"``.
        target_name: the target's image name, photo name, or ``"sampled (seed N)"``.
        source_photo, target_photo: the :class:`PhotoPerson` of a photo input, else None.
    """

    source: dict[str, Any]
    target_image: Any
    target_rcv: Any
    generated: Any
    source_kind: str
    target_kind: str
    target_name: str
    source_photo: PhotoPerson | None = None
    target_photo: PhotoPerson | None = None

    def grid(self) -> Any:
        """(3, 3, H, W): source | target | generated (what ``dpig transfer`` writes)."""
        import torch

        return torch.stack([self.source["image"].cpu(), self.target_image.cpu(),
                            self.generated.cpu().clamp(-1, 1)])

    def save(self, path: str | os.PathLike) -> str:
        """Write :meth:`grid` as one PNG (2-px white padding, like
        :func:`dpiglib.runlog.save_image_grid`)."""
        from dpiglib.runlog import save_image_grid

        return save_image_grid(self.grid(), path, nrow=3)

    def panels(self) -> tuple[list, list, list[str]]:
        """``(images, rcvs, titles)`` for :func:`dpiglib.viz.show_pose`: the photo with the
        detected skeleton (photo sources only), the model input, the target pose, the result."""
        images, rcvs, titles = [], [], []
        if self.source_photo is not None:
            images.append(self.source_photo.photo)
            rcvs.append(self.source_photo.photo_rcv)
            titles.append("photo, detected")
        images += [self.source["image"], self.target_image, self.generated]
        rcvs += [self.source["rcv"], self.target_rcv, self.target_rcv]
        titles += ["model input", f"target ({self.target_kind})", "generated"]
        return images, rcvs, titles


def _dataset_names(data_root: Any, split: str, dataset: str | None) -> tuple[set[str] | None, str]:
    if data_root is None or str(data_root) == "":
        return None, "no dataset given"
    try:
        files = annotations.find_dataset_files(data_root, split, dataset)
        return set(annotations.read_annotation_csv(files.annotation)), ""
    except (OSError, ValueError) as exc:  # DatasetError, unreadable CSV: matters only for names
        return None, f"cannot read the {split} annotations of {str(data_root)!r}: {exc}"


def _resolve_one(spec: Any, role: str, label: str, names: set[str] | None, why: str,
                 data_root: Any, split: str) -> tuple[str, Any]:
    if isinstance(spec, (np.ndarray, PhotoPerson)):
        return "photo", spec
    s = os.fspath(spec)
    if role == "target" and s == SAMPLED:
        return "sampled", None
    if names is not None and s in names:
        return "dataset", s
    p = Path(s).expanduser()
    if p.is_file():
        return "photo", p
    if p.exists():
        raise PhotoInputError(f"{label} {s!r} is a folder, not a photo or an image name")
    if names is not None and not ("/" in s or os.sep in s):
        some = ", ".join(sorted(names)[:3])
        raise PhotoNotFoundError(f"{label} {s!r} is not an annotated {split} image of "
                                 f"{str(data_root)!r} (e.g. {some}) nor an existing photo file")
    hint = "" if names is not None else f" (and no image name matches: {why})"
    raise PhotoNotFoundError(f"{label}: photo file {s!r} not found{hint}")


def resolve_transfer_inputs(source: Any, target: Any, data_root: Any = None, split: str = "test",
                            dataset: str | None = None,
                            labels: tuple[str, str] = ("source", "target"),
                            ) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """What a transfer's source and target mean: ``((kind, value), (kind, value))``.

    ``kind`` is ``"dataset"`` (an annotated image name of ``data_root``/``split``; names win over
    files, so name behaviour is unchanged), ``"photo"`` (an existing file, a uint8 array or a
    :class:`PhotoPerson`) or, for the target only, ``"sampled"`` (the string :data:`SAMPLED`).
    Nothing is detected or loaded except the annotation CSV, so a command can check its
    arguments before loading a model.

    Raises:
        PhotoNotFoundError: neither an annotated name nor an existing file (the message lists a
            few names of the dataset when it could be read).
        PhotoInputError: a folder was given.
    """
    names, why = _dataset_names(data_root, split, dataset)
    return (_resolve_one(source, "source", labels[0], names, why, data_root, split),
            _resolve_one(target, "target", labels[1], names, why, data_root, split))


def photo_transfer(sampler: Any, source: Any, target: Any, data_root: Any = None,
                   split: str = "test", seed: int = 0, estimator: Any = None,
                   margin: float = DEFAULT_MARGIN,
                   labels: tuple[str, str] = ("source", "target")) -> TransferResult:
    """Pose transfer: a photo's or dataset image's person in a photo's, image's or sampled pose.

    The one implementation behind ``dpig transfer`` and notebook 04's "One photo, new pose". A
    photo goes through MediaPipe Pose (:func:`person_from_photo`) and is cropped at the model's
    size with the dataset writer's crop; the person's appearance (fg + bg, or app) is encoded by
    Stage-I and rendered in the target's keypoints (:meth:`dpiglib.sampling.Sampler.pose_transfer`).

    Args:
        sampler: a :class:`dpiglib.sampling.Sampler` (Stage-II needed only for ``sampled``).
        source: a photo path, a uint8 (H, W, 3) array or a :class:`PhotoPerson`, or an annotated
            image name of ``data_root``/``split``.
        target: the same kinds, or ``"sampled"``: a pose e = Φ_pose(z) decoded by the pose
            auto-encoder (the run's ``decode_real_pose`` option is honoured).
        data_root: dataset root for image names (e.g. ``dpiglib.prepare.dataset_root(...)``).
        split: split of the image names.
        seed: seed of the sampled pose.
        estimator: pose estimator for photos (None: MediaPipe, created once and closed).
        margin: crop margin.
        labels: how the two inputs are named in error messages (the CLI passes its flags).

    Raises:
        PhotoInputError (and its PhotoNotFoundError, NoPersonError): bad source/target.
        ImportError: a photo is given and MediaPipe is not installed (install hint).
        dpiglib.sampling.Stage2MissingError: ``sampled`` and the run has no Stage-II Φ_pose.
    """
    import torch

    from dpiglib.sampling import Stage2MissingError

    cfg = sampler.cfg
    (src_kind, src), (tgt_kind, tgt) = resolve_transfer_inputs(
        source, target, data_root, split, cfg.data.dataset, labels)
    target_rcv = None
    if tgt_kind == "sampled":  # before any detection: a run without Stage-II fails at once
        try:
            target_rcv = sampler.sample_factors(1, ["pose"], seed=seed).rcv[0].cpu()
        except Stage2MissingError:
            raise Stage2MissingError(
                f"{labels[1]} {SAMPLED!r} draws a pose from the run's Stage-II pose mapping "
                "Φ_pose(z), and this run has no Stage-II for pose: train it (notebook 03 or "
                "`dpig train stage2 --out RUN`), or give a photo or a dataset image name") from None
    photos_needed = [x for k, x in ((src_kind, src), (tgt_kind, tgt))
                     if k == "photo" and not isinstance(x, PhotoPerson)]
    own = None
    if photos_needed and estimator is None:
        from dpiglib.estimator import MediaPipePoseEstimator

        estimator = own = MediaPipePoseEstimator()
    try:
        def person(x: Any) -> PhotoPerson:
            if isinstance(x, PhotoPerson):  # detected already; cropped again at another size
                if tuple(x.crop.shape[:2]) == tuple(sampler.size):
                    return x
                return _cropped_person(x.name, x.photo, x.photo_rcv, tuple(sampler.size), margin)
            return person_from_photo(x, sampler.size, estimator, margin)

        src_person = person(src) if src_kind == "photo" else None
        tgt_person = person(tgt) if tgt_kind == "photo" else None
    finally:
        if own is not None:
            own.close()
    wanted = [x for k, x in ((src_kind, src), (tgt_kind, tgt)) if k == "dataset"]
    items: dict[str, dict[str, Any]] = {}
    if wanted:
        from dpiglib.data import PersonDataset

        ds = PersonDataset(data_root, split, cfg.data, flip=False,
                           names=list(dict.fromkeys(wanted)))
        items = {ds.names[i]: ds[i] for i in range(len(ds))}
    src_item = src_person.item() if src_person is not None else items[src]
    if tgt_kind == "sampled":
        tgt_image, tgt_name = pose_drawing(target_rcv, cfg.data), f"{SAMPLED} (seed {seed})"
    else:
        t = tgt_person.item() if tgt_person is not None else items[tgt]
        tgt_image, target_rcv, tgt_name = t["image"], t["rcv"], t["name"]
    generated = sampler.pose_transfer(src_item, torch.as_tensor(target_rcv)[None])[0].cpu()
    return TransferResult(src_item, tgt_image, target_rcv, generated, src_kind, tgt_kind,
                          tgt_name, src_person, tgt_person)


def pose2sim_demo_frame(camera: str = "cam01.mp4", frame: int = 30,
                        cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """A whole frame (1920×1080 portrait, RGB) of a pose2sim demo video: a real photo of one
    person to try things on. Needs the cached wheel (no network; FileNotFoundError naming the
    ``--fetch`` command otherwise)."""
    from dpiglib.pose2sim_mini import FRAMES_PER_VIDEO, extract_demo_videos

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
        :class:`dpiglib.pose2sim_mini.MiniReport`.
    """
    import shutil

    from dpiglib import estimator as est
    from dpiglib import pose2sim_mini

    h, w = parse_size(size)
    root = Path(run_dir) / POSE2SIM_MINI_DIR
    fetch = (f"python -m data_prep.pose2sim_mini --fetch --out {root} --size {h}x{w} "
             f"--frames-per-camera {frames_per_camera} --seed {seed}")
    if not est.is_available():
        raise Pose2simUnavailable(
            f"MediaPipe (the optional photos extra) is not installed: {est.INSTALL_HINT}; "
            f"then run: {fetch}")
    try:
        pose2sim_mini.extract_demo_videos(cache_dir)
    except FileNotFoundError:
        raise Pose2simUnavailable(
            f"the pose2sim {pose2sim_mini.POSE2SIM_VERSION} wheel is not in the cache "
            f"({Path(cache_dir or pose2sim_mini.default_cache_dir()) / 'wheels'}). Fetching it is "
            f"an explicit step (pip, about 51 MB, once): {fetch}") from None
    if (root / f"{PREFIX}-annotation-train.csv").exists():
        shutil.rmtree(root)
    return pose2sim_mini.build_pose2sim_mini(root, cache_dir, (h, w), frames_per_camera,
                                             seed=seed)


def run_pose2sim_mini_root(run_dir: str | os.PathLike) -> Path | None:
    """``RUN_DIR/pose2sim_mini`` when notebook 01 (or the printed command) has built it there."""
    root = Path(run_dir) / POSE2SIM_MINI_DIR
    ok = all((root / f"{PREFIX}-annotation-{s}.csv").is_file() for s in ("train", "test"))
    return root if ok else None
