"""One photo, new pose: any photo (or a dataset image) as model input, and pose transfer.

:func:`person_from_photo` turns one photo into a model input with the same detection and crop
as a photo dataset (:mod:`dpiglib.photos.prepare`); :func:`photo_transfer`, behind ``dpig transfer``
and notebook 04, renders a photo's or a dataset image's person in another photo's, a dataset
image's or a sampled pose. torch is imported only by the transfer functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dpiglib.data import annotations
from dpiglib.photos.prepare import DEFAULT_MARGIN, crop_person, parse_size, read_photo_file

__all__ = [
    "SAMPLED", "PhotoInputError", "PhotoNotFoundError", "NoPersonError", "read_photo",
    "PhotoPerson", "person_from_photo", "pose_drawing", "TransferResult",
    "resolve_transfer_inputs", "photo_transfer",
]


#: The target string meaning "a pose drawn from the run's Stage-II pose mapping Φ_pose(z)".
SAMPLED = "sampled"


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
    img, err = read_photo_file(p)
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

        from dpiglib.data.datasets import _to_tensor  # the dataset's own uint8 → [−1, 1] conversion

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
        from dpiglib.photos.estimator import MediaPipePoseEstimator

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

    from dpiglib.data.pose import pose_heatmap, pose_mask

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
        :func:`dpiglib.core.runlog.save_image_grid`)."""
        from dpiglib.core.runlog import save_image_grid

        return save_image_grid(self.grid(), path, nrow=3)

    def panels(self) -> tuple[list, list, list[str]]:
        """``(images, rcvs, titles)`` for :func:`dpiglib.ui.viz.show_pose`: the photo with the
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
    Stage-I and rendered in the target's keypoints (:meth:`dpiglib.sampling.sampler.Sampler.pose_transfer`).

    Args:
        sampler: a :class:`dpiglib.sampling.sampler.Sampler` (Stage-II needed only for ``sampled``).
        source: a photo path, a uint8 (H, W, 3) array or a :class:`PhotoPerson`, or an annotated
            image name of ``data_root``/``split``.
        target: the same kinds, or ``"sampled"``: a pose e = Φ_pose(z) decoded by the pose
            auto-encoder (the run's ``decode_real_pose`` option is honoured).
        data_root: dataset root for image names (e.g. ``dpiglib.data.prepare.dataset_root(...)``).
        split: split of the image names.
        seed: seed of the sampled pose.
        estimator: pose estimator for photos (None: MediaPipe, created once and closed).
        margin: crop margin.
        labels: how the two inputs are named in error messages (the CLI passes its flags).

    Raises:
        PhotoInputError (and its PhotoNotFoundError, NoPersonError): bad source/target.
        ImportError: a photo is given and MediaPipe is not installed (install hint).
        dpiglib.sampling.sampler.Stage2MissingError: ``sampled`` and the run has no Stage-II Φ_pose.
    """
    import torch

    from dpiglib.sampling.sampler import Stage2MissingError

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
        from dpiglib.photos.estimator import MediaPipePoseEstimator

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
        from dpiglib.data.datasets import PersonDataset

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


