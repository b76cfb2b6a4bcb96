"""An offline pose estimator for your own photos: MediaPipe Pose → the 18 OpenPose keypoints.

DPIG's datasets come with OpenPose-COCO keypoints (orig §2.2, orig §2.8); for new
photos the kit needs an estimator that runs offline. ``mediapipe==0.10.21`` is the last release
whose wheel ships its BlazePose model (legacy ``mp.solutions.pose``, ``model_complexity=1`` only;
0 and 2 download at run time), so it is the one used here (``docs/own_photos.md``).

BlazePose gives 33 landmarks; :data:`COCO18_FROM_BLAZEPOSE` maps them to the kit's 18 keypoints
(neck = mean of the two shoulders, present only when both are). A landmark whose visibility is
below 0.5, or that falls outside the image, is missing. BlazePose finds one person per image and
its hips sit a little higher than OpenPose's.

MediaPipe (and the OpenCV it needs) is an optional extra: ``import dpiglib.photos.estimator`` imports
neither; :func:`require` raises an ImportError with the install lines. The same estimator is used
by ``dpiglib.photos.prepare`` (data preparation) and by the evaluation's pose-accuracy metric.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
from typing import Any

import numpy as np

__all__ = [
    "INSTALL_HINT",
    "quiet_native_stderr",
    "COCO18_FROM_BLAZEPOSE",
    "is_available",
    "require",
    "landmarks_to_rcv",
    "MediaPipePoseEstimator",
]

#: What to run when MediaPipe is missing. ``--no-deps`` because mediapipe 0.10.21 declares
#: ``numpy<2`` and pulls jax; with these five extra packages it works with numpy 2.
INSTALL_HINT = (
    'pip install --no-deps mediapipe==0.10.21 && '
    'pip install absl-py attrs flatbuffers "protobuf>=4.25.3,<5" opencv-python-headless'
)

#: COCO-18 index → BlazePose landmark index; ``None`` = neck (mean of landmarks 11 and 12).
#: BlazePose's "left" is the person's left, like OpenPose's (docs/conventions.md).
COCO18_FROM_BLAZEPOSE: tuple[int | None, ...] = (
    0,  # 0 nose
    None,  # 1 neck = mean(l-shoulder 11, r-shoulder 12)
    12, 14, 16,  # 2-4 r-shoulder, r-elbow, r-wrist
    11, 13, 15,  # 5-7 l-shoulder, l-elbow, l-wrist
    24, 26, 28,  # 8-10 r-hip, r-knee, r-ankle
    23, 25, 27,  # 11-13 l-hip, l-knee, l-ankle
    5, 2,  # 14 r-eye, 15 l-eye (BlazePose 5 = right eye centre, 2 = left eye centre)
    8, 7,  # 16 r-ear, 17 l-ear
)
_NECK = 1
_SHOULDERS = (2, 5)
_NUM_BLAZEPOSE = 33


def is_available() -> bool:
    """True when ``mediapipe`` and ``cv2`` can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("mediapipe", "cv2"))


def require() -> Any:
    """Import and return the ``mediapipe`` module, or raise an ImportError with the install hint.

    Raises:
        ImportError: naming :data:`INSTALL_HINT` when mediapipe or OpenCV is missing or broken.
    """
    # MediaPipe's C++ side logs a few lines per graph through glog; keep the console readable.
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import cv2  # noqa: F401  (mediapipe imports it too; a clearer error if only it is missing)
        import mediapipe
    except ImportError as exc:
        raise ImportError(
            "MediaPipe Pose is needed for keypoints on your own photos (an optional extra). "
            f"Install it with:\n    {INSTALL_HINT}\n(original error: {exc})") from exc
    if not hasattr(mediapipe, "solutions") or not hasattr(mediapipe.solutions, "pose"):
        raise ImportError(
            f"mediapipe {getattr(mediapipe, '__version__', '?')} has no mp.solutions.pose with a "
            f"bundled model; install the pinned version:\n    {INSTALL_HINT}")
    return mediapipe


def landmarks_to_rcv(landmarks: np.ndarray, image_hw: tuple[int, int],
                     visibility_threshold: float = 0.5) -> np.ndarray:
    """BlazePose landmarks → the kit's rcv (pure NumPy, no MediaPipe needed).

    Args:
        landmarks: (33, 3) of (x, y, visibility) with x, y normalised by the image width and
            height (MediaPipe's ``NormalizedLandmark``; may lie outside [0, 1]).
        image_hw: (H, W) of the image the landmarks refer to.
        visibility_threshold: landmarks with visibility below it become missing.

    Returns:
        float32 (18, 3) of (row, col, visible) in pixels, row = y·H, col = x·W; missing keypoints
        (low visibility, or outside ``[0, H) × [0, W)``) are (0, 0, 0). The neck is the mean of
        both shoulders and is present only when both are.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (_NUM_BLAZEPOSE, 3):
        raise ValueError(f"landmarks: expected shape (33, 3) of (x, y, visibility), got {lm.shape}")
    h, w = int(image_hw[0]), int(image_hw[1])
    rcv = np.zeros((18, 3), dtype=np.float32)
    for k, b in enumerate(COCO18_FROM_BLAZEPOSE):
        if b is None:
            continue
        x, y, vis = lm[b]
        row, col = y * h, x * w
        # A landmark off the image has no pixels behind it; the crop would otherwise grow into
        # padding to keep a guessed ankle (docs/conventions.md: a keypoint outside the image is nothing).
        if vis >= visibility_threshold and 0 <= row < h and 0 <= col < w:
            rcv[k] = (row, col, 1.0)
    if rcv[_SHOULDERS[0], 2] > 0 and rcv[_SHOULDERS[1], 2] > 0:
        rcv[_NECK, :2] = (rcv[_SHOULDERS[0], :2] + rcv[_SHOULDERS[1], :2]) / 2
        rcv[_NECK, 2] = 1.0
    return rcv


class MediaPipePoseEstimator:
    """One-person 2-D pose estimator (BlazePose via ``mp.solutions.pose``) returning kit rcv.

    Each image is processed independently (``static_image_mode=True``), so the result for a frame
    does not depend on the frames before it: data preparation is reproducible and order-free.

    Args:
        min_detection_confidence: MediaPipe's person-detector threshold.
        visibility_threshold: landmarks below it are missing (0.5, docs/own_photos.md).
        min_keypoints: a detection with fewer present keypoints counts as "no person".

    Example:
        >>> est = MediaPipePoseEstimator()              # doctest: +SKIP
        >>> rcv = est.detect(np.asarray(Image.open("me.jpg").convert("RGB")))  # (18, 3) or None
        >>> rcvs = est([img_a, img_b])    # (2, 18, 3): the metrics' detect_keypoints hook
    """

    def __init__(self, min_detection_confidence: float = 0.5, visibility_threshold: float = 0.5,
                 min_keypoints: int = 1):
        mp = require()
        # model_complexity=1 is the only model inside the 0.10.21 wheel (0 and 2 download).
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=1, enable_segmentation=False,
            min_detection_confidence=float(min_detection_confidence))
        self.visibility_threshold = float(visibility_threshold)
        self.min_keypoints = int(min_keypoints)
        self.calls = 0
        self.seconds = 0.0  # total time inside MediaPipe, for the "time per image" report

    def detect_landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """Raw BlazePose output: (33, 3) of normalised (x, y, visibility), or None (no person).

        Args:
            image: uint8 (H, W, 3) RGB (not OpenCV's BGR).
        """
        image = _check_image(image)
        t0 = time.perf_counter()
        result = self._pose.process(image)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        if result.pose_landmarks is None:
            return None
        return np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark],
                        dtype=np.float64)

    def detect(self, image: np.ndarray, upscale: int = 1, pad: int = 0) -> np.ndarray | None:
        """Keypoints of the one person in ``image``.

        Args:
            image: uint8 (H, W, 3) RGB.
            upscale: enlarge the image this many times (bicubic) before detection. Helps on tiny
                crops: on 42 Market-like 128×64 crops, 2× plus grey padding found 39 people
                instead of 35; on the pose2sim mini crops plain 1× finds all.
            pad: grey border (pixels of ``image``) added around it before detection, so a person
                touching the border is seen whole.

        Returns:
            float32 (18, 3) rcv in pixels of ``image`` (see :func:`landmarks_to_rcv`; keypoints
            in the padding are missing), or None when no person is found or fewer than
            ``min_keypoints`` keypoints are present.
        """
        image = _check_image(image)
        h, w = image.shape[:2]
        big = image
        if upscale != 1 or pad:
            if upscale < 1 or pad < 0:
                raise ValueError(f"upscale must be >= 1 and pad >= 0, got {upscale}, {pad}")
            from PIL import Image

            big = np.asarray(Image.fromarray(image).resize((w * upscale, h * upscale),
                                                           Image.Resampling.BICUBIC))
            p = pad * upscale
            big = np.pad(big, ((p, p), (p, p), (0, 0)), constant_values=128)
        lm = self.detect_landmarks(big)
        if lm is None:
            return None
        if big is not image:
            # Normalised coordinates of the big image → normalised coordinates of ``image``.
            bh, bw = big.shape[:2]
            lm = lm.copy()
            lm[:, 0] = (lm[:, 0] * bw - pad * upscale) / (w * upscale)
            lm[:, 1] = (lm[:, 1] * bh - pad * upscale) / (h * upscale)
        rcv = landmarks_to_rcv(lm, (h, w), self.visibility_threshold)
        if int((rcv[:, 2] > 0).sum()) < max(self.min_keypoints, 1):
            return None
        return rcv

    def __call__(self, images: Any, upscale: int = 1, pad: int = 0) -> np.ndarray:
        """Batch form for the metrics' ``detect_keypoints`` hook: images → (N, 18, 3) rcv.

        Args:
            images: a sequence of uint8 (H, W, 3) RGB images or one (N, H, W, 3) array.
            upscale, pad: as in :meth:`detect`.

        Returns:
            float32 (N, 18, 3); an image without a person gives all-missing zeros.
        """
        out = np.zeros((len(images), 18, 3), dtype=np.float32)
        for i, img in enumerate(images):
            rcv = self.detect(img, upscale=upscale, pad=pad)
            if rcv is not None:
                out[i] = rcv
        return out

    @property
    def seconds_per_image(self) -> float:
        """Mean MediaPipe time per processed image so far (0 before the first call)."""
        return self.seconds / self.calls if self.calls else 0.0

    def close(self) -> None:
        """Free the MediaPipe graph (also done by ``with`` and at garbage collection)."""
        if getattr(self, "_pose", None) is not None:
            self._pose.close()
            self._pose = None

    def __enter__(self) -> "MediaPipePoseEstimator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _check_image(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image: expected uint8 (H, W, 3) RGB, got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


@contextlib.contextmanager
def quiet_native_stderr():
    """Inside the block, what native libraries write to file descriptor 2 goes to /dev/null.

    MediaPipe's C++ start-up lines (TensorFlow Lite, absl) are written straight to the process's
    stderr, under a notebook cell's output. Python exceptions are unaffected; inside Jupyter so
    are Python warnings and prints to ``sys.stderr`` (a kernel stream, not descriptor 2). In a
    plain script those go to descriptor 2 too and are silenced inside the block.
    """
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to redirect
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.__stderr__.flush()
        os.dup2(saved, 2)
        os.close(saved)
