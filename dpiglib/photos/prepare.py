"""Your own photos and videos as a kit dataset: detect, crop to the dataset's shape, annotate.

DPIG trains and tests on person crops with 18 OpenPose keypoints in the Def-GAN/PATN file format
(orig §2.1-2.2, orig §2.8). This module turns any photos or videos of people into
that format, so the same notebooks and the ``dpig`` commands run on them:

1. one person per image is found with :class:`dpiglib.photos.estimator.MediaPipePoseEstimator`;
2. :func:`crop_box` frames the detected keypoints with a margin and grows the box to the target
   aspect ratio (H/W = 2 for Market's 128×64); :func:`crop_person` cuts it out (grey padding where
   the box leaves the photo) and resizes with PIL, so every detected keypoint stays inside;
3. :func:`write_photo_split` writes ``photos-annotation-{split}.csv`` and
   ``photos-pairs-{split}.csv`` (same-identity ordered pairs, DPIG rule, orig §2.6) with
   Market-style names ``PPPP_cC_FFFFFF.png`` (identity = ``name.split('_')[0]``), a sources CSV
   that traces every crop back to its file/frame, and a JSON report listing the images where no
   person was found (never dropped silently).

:func:`prepare_photo_folder` does this for a folder (one subfolder per person, or an identity CSV)
or a single video. The pose2sim mini dataset (:mod:`dpiglib.photos.pose2sim_mini`) and "one photo, new
pose" (:mod:`dpiglib.photos.transfer`) build on these functions. MediaPipe is an optional
extra, imported only when an estimator is created.
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

from dpiglib.data import annotations

__all__ = [
    "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "PREFIX", "PAD_VALUE", "SourceImage", "PhotoReport",
    "parse_size", "crop_box", "crop_person", "extract_video_frames", "iter_sources",
    "write_photo_split", "prepare_photo_folder", "read_photo_file",
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


def read_photo_file(path: Path) -> tuple[np.ndarray | None, str]:
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
        img, err = read_photo_file(p)
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
            :class:`~dpiglib.photos.estimator.MediaPipePoseEstimator`).
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
    from dpiglib.photos.estimator import MediaPipePoseEstimator

    with MediaPipePoseEstimator() as est:
        return write_photo_split(sources, out, split, size, est, margin, progress)
