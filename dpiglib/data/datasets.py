"""Datasets over the Def-GAN/PATN on-disk format: images + keypoints → network inputs (orig §2).

:class:`PersonDataset` yields one image with its pose (``rcv``), part boxes (orig §2.5) and
identity; :class:`PairDataset` yields the (source, target) pairs of a pairs CSV.
:func:`prepare_batch` moves a collated batch to the training device and adds the 18-channel
heatmap (orig §2.3) and the pose mask (orig §2.4) with the batched torch functions of
:mod:`dpiglib.data.pose`.

Deviations from the original loader (orig §2.7), each deliberate:

* flips are drawn on the fly (``DataConfig.flip``) instead of the pre-flipped ``*_flip`` folders
  with their own OpenPose results; keypoints are mirrored with :func:`pose.flip_rcv`;
* Stage-I iterates over images, each once per epoch, not over pair image 0 (orig §2.6, orig B8);
* DeepFashion's 256×176 PATN crops are padded with white to 256×256 (keypoints +40 px in x), the
  inverse of PATN's own crop (``DataConfig.deepfashion_fit="pad"``), or resized (``"resize"``).

The CSV readers/writers, identity parsing and pair rules live in :mod:`dpiglib.data.annotations` and
are re-exported here.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from dpiglib.data.annotations import (DatasetError, find_dataset_files,
                                      identity_of, is_all_missing, iter_annotation_rows,
                                      read_annotation_csv, read_pairs_csv)
from dpiglib.data.annotations import _read_pairs_with_lines
from dpiglib.config import DataConfig
from dpiglib.data.pose import KEYPOINT_NAMES, flip_rcv, part_boxes, pose_heatmap, pose_mask

__all__ = [
    "to_uint8",
    "load_image",
    "PersonDataset",
    "PairDataset",
    "prepare_batch",
    "spread_indices",
    "spread_batch",
    "make_loader",
    "dataset_summary",
]

_WHITE = 255


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open an image fully as RGB (grayscale/palette/RGBA are converted; alpha is dropped).

    Raises:
        DatasetError: missing, zero-byte, truncated or otherwise unreadable file (names the file).
    """
    try:
        with Image.open(path) as im:
            im.load()  # decode now, so a truncated file fails here and not in a worker later
            return im.convert("RGB") if im.mode != "RGB" else im.copy()
    except FileNotFoundError:
        raise DatasetError("image file not found", path) from None
    except (OSError, SyntaxError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
        raise DatasetError(f"cannot read image ({type(e).__name__}: {e}); replace the file, or "
                           "remove it and its annotation row", path) from None


def fit_image(img: Image.Image, rcv: np.ndarray, size: tuple[int, int], dataset: str,
              fit: str, path: str | os.PathLike) -> tuple[Image.Image, np.ndarray]:
    """Bring an image and its keypoints to ``size`` (H, W), or raise naming the file.

    Only DeepFashion may differ in size: PATN-family crops are 256×176 (orig §6.4).
    ``fit="pad"`` puts the crop back in the middle of a white 256×256 canvas (left margin
    ``(W − w) // 2`` = 40, so keypoint columns shift by +40), undoing PATN's
    ``img.crop((40, 0, 216, 256))``; ``fit="resize"`` stretches it bilinearly and maps pixel
    centres, ``c' = (c + 0.5)·W/w − 0.5``.

    Args:
        img: RGB image of size (h, w).
        rcv: float32 (18, 3) in pixels of ``img``; a new array is returned.
        size: target (H, W).
        dataset: ``market`` | ``deepfashion`` | ``synth``.
        fit: ``pad`` | ``resize`` (DeepFashion only).
        path: for error messages.
    """
    h_t, w_t = size
    w, h = img.size
    if (h, w) == (h_t, w_t):
        return img, rcv
    if dataset != "deepfashion":
        raise DatasetError(f"image is {h}x{w} (HxW), expected {h_t}x{w_t} "
                           f"(DataConfig.image_size of the {dataset!r} data); resize the images "
                           "or set data_image_height / data_image_width", path)
    rcv = rcv.copy()
    vis = rcv[:, 2] > 0
    if fit == "pad":
        if h != h_t or w > w_t:
            raise DatasetError(f"image is {h}x{w} (HxW); deepfashion_fit='pad' needs height "
                               f"{h_t} and width <= {w_t} (use deepfashion_fit='resize')", path)
        left = (w_t - w) // 2
        canvas = Image.new("RGB", (w_t, h_t), (_WHITE, _WHITE, _WHITE))
        canvas.paste(img, (left, 0))
        rcv[vis, 1] += left
        return canvas, rcv
    if fit == "resize":
        sy, sx = h_t / h, w_t / w
        rcv[vis, 0] = np.clip((rcv[vis, 0] + 0.5) * sy - 0.5, 0, h_t - 1)
        rcv[vis, 1] = np.clip((rcv[vis, 1] + 0.5) * sx - 0.5, 0, w_t - 1)
        return img.resize((w_t, h_t), Image.BILINEAR), rcv
    raise ValueError(f"deepfashion_fit must be 'pad' or 'resize', got {fit!r}")


def _to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB → float32 (3, H, W) in [-1, 1]: (x − 127.5) / 127.5 as the original (orig §2.7)."""
    arr = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    return arr.permute(2, 0, 1).float().sub_(127.5).div_(127.5)


class PersonDataset(torch.utils.data.Dataset):
    """The annotated images of one split: ``ROOT/{split}/`` + ``{prefix}-annotation-{split}.csv``.

    Items follow docs/design.md::

        {"image": (3, H, W) float in [-1, 1], "rcv": (18, 3) float, "boxes": (7, 4) int64,
         "box_vis": (7,) float, "identity": int, "name": str, "index": int,
         # return_maps=True only:
         "heatmap": (18, H, W) float in {-1, 1}, "mask": (1, H, W) float in {0, 1}}

    ``identity`` indexes :attr:`identities` (the sorted identity strings of this dataset's items).
    All-missing rows are counted (:attr:`num_all_missing`) and, unless ``include_all_missing``,
    left out: they have no pose to condition on. Missing image files are reported here, at
    construction, not during iteration.

    Args:
        root: dataset root.
        split: ``"train"`` or ``"test"``.
        data_cfg: sizes, radii, box style, flip and DeepFashion fit.
        return_maps: also return per-item heatmap and mask (for notebooks; training computes
            them on the device with :func:`prepare_batch`).
        flip: random horizontal flip with p = 0.5; ``None`` = ``data_cfg.flip and split ==
            "train"``. Drawn with ``torch.rand`` so ``torch.manual_seed`` and DataLoader worker
            seeding make it reproducible.
        names: optional subset (in this order) of annotated names; all-missing names given here
            are kept.
        include_all_missing: keep all-missing rows when ``names`` is None.
        clip_keypoints: clip out-of-image keypoints instead of raising.
    """

    def __init__(self, root: str | os.PathLike, split: str, data_cfg: DataConfig,
                 return_maps: bool = False, flip: bool | None = None,
                 names: Sequence[str] | None = None, include_all_missing: bool = False,
                 clip_keypoints: bool = False):
        self.data_cfg = data_cfg
        self.files = find_dataset_files(root, split, data_cfg.dataset)
        self.split = split
        self.size = data_cfg.image_size
        self.return_maps = return_maps
        self.flip = (data_cfg.flip and split == "train") if flip is None else bool(flip)
        present = set(os.listdir(self.files.image_dir))
        # Keypoints refer to the images as stored: DeepFashion crops may be narrower than
        # image_size, so its bound is taken from the first image on disk.
        self.source_size = self.size
        self.annotations = self._read_annotations(present, clip_keypoints)
        all_missing = [n for n, r in self.annotations.items() if is_all_missing(r)]
        self.num_all_missing = len(all_missing)
        if names is None:
            skip = set() if include_all_missing else set(all_missing)
            names = [n for n in self.annotations if n not in skip]
        else:
            names = list(names)
            unknown = [n for n in names if n not in self.annotations]
            if unknown:
                raise DatasetError(f"{len(unknown)} requested name(s) have no annotation row, "
                                   f"e.g. {', '.join(unknown[:5])}", self.files.annotation)
        missing = [n for n in names if n not in present]
        if missing:
            raise DatasetError(
                f"{len(missing)} annotated image(s) missing from {str(self.files.image_dir)!r}, "
                f"e.g. {', '.join(missing[:5])}; restore them or remove their rows",
                self.files.annotation)
        if not names and not self.annotations:
            raise DatasetError("no data rows after the header; nothing to load",
                               self.files.annotation)
        if not names:
            raise DatasetError(f"none of the {len(self.annotations)} rows has a visible keypoint "
                               "(all -1); check the keypoint export (pass include_all_missing=True "
                               "to load them anyway)", self.files.annotation)
        self.names: list[str] = names
        ids = [identity_of(n, self.files.dataset) for n in names]
        self.identities: list[str] = sorted(set(ids))
        index = {s: i for i, s in enumerate(self.identities)}
        self.identity_index = np.array([index[s] for s in ids], dtype=np.int64)

    def _read_annotations(self, present: set[str], clip: bool) -> dict[str, np.ndarray]:
        if self.files.dataset == "deepfashion":
            first = next((n for _, n, _ in iter_annotation_rows(self.files.annotation)
                          if n in present), None)
            if first is not None:
                w, h = load_image(self.files.image_dir / first).size
                self.source_size = (h, w)
        return read_annotation_csv(self.files.annotation, self.source_size, clip)

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int, flip: bool = False) -> dict[str, Any]:
        """Item ``index`` with a chosen flip (no randomness; ``__getitem__`` draws the flip)."""
        name = self.names[index]
        path = self.files.image_dir / name
        img, rcv = fit_image(load_image(path), self.annotations[name], self.size,
                             self.files.dataset, self.data_cfg.deepfashion_fit, path)
        image = _to_tensor(img)  # (3, H, W)
        if flip:
            image = torch.flip(image, dims=[2])
            rcv = flip_rcv(rcv, self.size[1])
        boxes, box_vis = part_boxes(rcv, self.size, self.data_cfg.box_style)
        item: dict[str, Any] = {
            "image": image,
            "rcv": torch.from_numpy(np.ascontiguousarray(rcv, dtype=np.float32)),
            "boxes": torch.from_numpy(np.asarray(boxes, dtype=np.int64)),
            "box_vis": torch.from_numpy(np.asarray(box_vis, dtype=np.float32)),
            "identity": int(self.identity_index[index]),
            "name": name,
            "index": int(index),
        }
        if self.return_maps:
            item["heatmap"] = torch.from_numpy(
                pose_heatmap(rcv, self.size, self.data_cfg.heatmap_radius))
            item["mask"] = torch.from_numpy(
                pose_mask(rcv, self.size, self.data_cfg.mask_radius)).float()[None]
        return item

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index = index % len(self)
        flip = self.flip and bool(torch.rand(()) < 0.5)
        return self.load(index, flip)


class PairDataset(torch.utils.data.Dataset):
    """(source, target) pairs of ``{prefix}-pairs-{split}.csv``: items ``{"source", "target"}``.

    Every pair is checked at construction: both names must have annotation rows with at least
    one visible keypoint, and both images must exist. Errors name the pairs file and line.
    Flip defaults to off (pairs are for pose transfer and evaluation); source and target draw
    independent flips when it is on.

    Args:
        root, split, data_cfg, return_maps, clip_keypoints: as :class:`PersonDataset`.
        flip: ``None`` = off.
        max_pairs: keep only the first ``max_pairs`` pairs (0/None = all).
    """

    def __init__(self, root: str | os.PathLike, split: str, data_cfg: DataConfig,
                 return_maps: bool = False, flip: bool | None = None,
                 max_pairs: int | None = None, clip_keypoints: bool = False):
        files = find_dataset_files(root, split, data_cfg.dataset)
        if files.pairs is None:
            raise DatasetError(f"no pairs CSV for split {split!r} in {str(files.root)!r}; looked "
                               f"for {files.prefix}-pairs-{split}.csv and "
                               f"{files.prefix}-resize-pairs-{split}.csv (make one with "
                               "python -m data_prep.make_pairs)")
        self.pairs_path = files.pairs
        rows = _read_pairs_with_lines(files.pairs)
        if max_pairs:
            rows = rows[:max_pairs]
        annotations = read_annotation_csv(files.annotation)
        for lineno, a, b in rows:
            for n in (a, b):
                if n not in annotations:
                    raise DatasetError(f"image {n!r} has no row in {files.annotation.name}",
                                       files.pairs, lineno)
                if is_all_missing(annotations[n]):
                    raise DatasetError(f"image {n!r} has no visible keypoint (all-missing row "
                                       f"in {files.annotation.name}); it cannot be paired",
                                       files.pairs, lineno)
        used = set(n for _, a, b in rows for n in (a, b))
        names = [n for n in annotations if n in used]
        self.images = PersonDataset(root, split, data_cfg, return_maps=return_maps,
                                    flip=bool(flip), names=names, clip_keypoints=clip_keypoints)
        pos = {n: i for i, n in enumerate(names)}
        self.pairs: list[tuple[str, str]] = [(a, b) for _, a, b in rows]
        self.pair_index = np.array([(pos[a], pos[b]) for a, b in self.pairs],
                                   dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, dict[str, Any]]:
        i, j = self.pair_index[index]
        return {"source": self.images[int(i)], "target": self.images[int(j)]}


def prepare_batch(batch: dict[str, Any], data_cfg: DataConfig, device: torch.device | str,
                  non_blocking: bool = True) -> dict[str, Any]:
    """Move a collated batch to ``device`` and add the network's pose inputs.

    Adds ``"heatmap"`` float (B, 18, H, W) in {-1, +1} (radius ``heatmap_radius``, orig §2.3) and
    ``"mask"`` float (B, 1, H, W) in {0, 1} (radius ``mask_radius``, orig §2.4), computed from
    ``batch["rcv"]`` on the device by the batched torch code of :mod:`dpiglib.data.pose`; maps already
    in the batch (``return_maps=True``) are kept. A pair batch ``{"source", "target"}`` is
    prepared side by side. Non-tensor entries (names) are passed through.
    """
    if "source" in batch and "target" in batch:
        return {k: prepare_batch(v, data_cfg, device, non_blocking)
                if k in ("source", "target") else v for k, v in batch.items()}
    out = {k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
           for k, v in batch.items()}
    rcv = out["rcv"]
    if rcv.dim() != 3 or rcv.shape[1:] != (18, 3):
        raise ValueError(f"prepare_batch: batch['rcv'] must be (B, 18, 3), got {tuple(rcv.shape)}")
    if out["image"].dtype == torch.uint8:  # allow uint8 loaders: normalise on the device
        out["image"] = out["image"].float().sub_(127.5).div_(127.5)
    size = data_cfg.image_size
    if "heatmap" not in out:
        out["heatmap"] = pose_heatmap(rcv, size, data_cfg.heatmap_radius)
    if "mask" not in out:
        out["mask"] = pose_mask(rcv, size, data_cfg.mask_radius).float().unsqueeze(1)
    return out


def _seed_worker(worker_id: int) -> None:
    # torch already seeds each worker with base_seed + worker_id, base_seed drawn from the
    # loader's generator; numpy and random follow it so any library draw is reproducible too.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def spread_indices(length: int, n: int) -> np.ndarray:
    """Up to ``n`` evenly spaced indices into ``length`` items, first and last included (a
    SynthPerson split is ordered by identity, so they spread over the identities)."""
    return np.unique(np.linspace(0, length - 1, min(n, length)).round().astype(int))


def spread_batch(dataset: PersonDataset, indices: Any, data_cfg: DataConfig,
                 device: torch.device | str = "cpu") -> dict[str, Any]:
    """The unflipped items ``indices`` of ``dataset``, collated and :func:`prepare_batch`-ed:
    the fixed display / validation batches (``spread_batch(ds, spread_indices(len(ds), 16), ...)``)."""
    items = [dataset.load(int(i)) for i in indices]
    return prepare_batch(torch.utils.data.default_collate(items), data_cfg, device)


def make_loader(dataset: torch.utils.data.Dataset, batch_size: int, shuffle: bool = True,
                seed: int = 0, num_workers: int = 0,
                drop_last: bool = False) -> torch.utils.data.DataLoader:
    """A DataLoader whose order depends only on ``seed`` (seeded ``torch.Generator``).

    With ``num_workers > 0`` the per-worker torch seeds (hence the flips) also come from that
    generator; with 0 workers flips use the global torch RNG (``torch.manual_seed``).
    ``pin_memory`` is on when CUDA is available.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
        drop_last=drop_last, generator=gen, worker_init_fn=_seed_worker,
        pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0)


def dataset_summary(root: str | os.PathLike, split: str,
                    dataset: str | None = None) -> dict[str, Any]:
    """Counts for one split (notebook 01): reads only the CSVs and the folder listing.

    Returns:
        dict with ``prefix``, ``dataset``, ``images`` (files in the folder), ``annotated`` (rows),
        ``all_missing`` (rows with no visible keypoint), ``missing_images`` (rows without a
        file), ``identities`` (among annotated names), ``pairs`` (rows of the pairs CSV or None),
        ``per_identity`` (DataFrame: identity, images) and ``visibility`` (DataFrame indexed by
        keypoint name: visible fraction over the annotated rows).
    """
    import pandas as pd

    files = find_dataset_files(root, split, dataset)
    ann = read_annotation_csv(files.annotation)
    present = {n for n in os.listdir(files.image_dir) if not n.startswith(".")}
    ids = pd.Series([identity_of(n, files.dataset) for n in ann], dtype=object)
    per_id = ids.value_counts().rename_axis("identity").reset_index(name="images")
    per_id = per_id.sort_values(["images", "identity"], ascending=[False, True],
                                ignore_index=True)
    rcvs = np.stack(list(ann.values())) if ann else np.zeros((0, 18, 3), np.float32)
    vis_rate = (rcvs[:, :, 2] > 0).mean(axis=0) if len(rcvs) else np.zeros(18)
    visibility = pd.DataFrame({"visible": vis_rate}, index=pd.Index(KEYPOINT_NAMES,
                                                                      name="keypoint"))
    return {
        "split": split,
        "prefix": files.prefix,
        "dataset": files.dataset,
        "images": len(present),
        "annotated": len(ann),
        "all_missing": int(sum(is_all_missing(r) for r in ann.values())),
        "missing_images": int(sum(n not in present for n in ann)),
        "identities": int(ids.nunique()),
        "pairs": None if files.pairs is None else len(read_pairs_csv(files.pairs)),
        "per_identity": per_id,
        "visibility": visibility,
    }


def to_uint8(img) -> np.ndarray:
    """Convert an image to uint8 (H, W, 3).

    Accepts a torch tensor or array (3, H, W) in [−1, 1] (the kit's convention, values clipped
    the way the original's ``denorm_img`` does), or an (H, W, 3) uint8 array (returned as is).
    """
    try:
        import torch

        if isinstance(img, torch.Tensor):
            img = img.detach().float().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        return arr
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.transpose(arr, (1, 2, 0))
    elif arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[2] in (1, 3) and arr.shape[0] != arr.shape[2]:
        arr = np.transpose(arr, (1, 2, 0))
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=2)
    # (G + 1) · 127.5 clipped to [0, 255] (orig §3.4, utils.denorm_img)
    return np.clip((arr + 1.0) * 127.5, 0, 255).astype(np.uint8)
