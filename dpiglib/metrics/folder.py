"""Score a folder of generated images against the real targets and write ``metrics.json``.

:func:`score_folder` is the entry point of ``dpig evaluate`` and notebook 05: it matches images by
name from the pairs list (:mod:`dpiglib.metrics.io`), builds the masks each protocol needs from
the keypoint annotations (DPIG: the source image's pose mask at ``mask_radius``, orig §6.2 / orig B6;
PATN: the target's ``produce_ma_mask``), runs :func:`~dpiglib.metrics.protocols.compute_metrics`
for each requested protocol, and records everything that defines the numbers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from dpiglib.metrics.io import default_name_fn, load_pair_images, read_image
from dpiglib.metrics.masks import dpig_source_mask
from dpiglib.metrics.protocols import PROTOCOLS, TEST_SET_NOTE, compute_metrics
from dpiglib.metrics.report import device_info, library_versions, write_metrics_json

__all__ = ["score_folder", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _load_keypoints(keypoints: Any) -> dict[str, np.ndarray] | None:
    if keypoints is None or isinstance(keypoints, dict):
        return keypoints
    from dpiglib.data.annotations import read_annotation_csv

    return read_annotation_csv(keypoints)


def _scale_rcv(rcv: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    # keypoints are in pixels of the stored image; rescale when the scored image was resized
    if tuple(from_size) == tuple(to_size):
        return rcv
    out = np.array(rcv, dtype=np.float32, copy=True)
    out[:, 0] *= to_size[0] / from_size[0]
    out[:, 1] *= to_size[1] / from_size[1]
    return out


def _collect_weights(results: dict[str, Any]) -> dict[str, Any]:
    """``weights file → sha256`` of every network that produced a number."""
    found: dict[str, Any] = {}

    def visit(x: Any) -> None:
        if isinstance(x, dict):
            f, h = x.get("weights_file"), x.get("weights_sha256")
            if f is not None and h is not None:
                for ff, hh in (zip(f, h) if isinstance(f, list) else [(f, h)]):
                    found[str(ff)] = hh
            for v in x.values():
                visit(v)

    visit(results)
    return found


def score_folder(generated_dir: str | os.PathLike, target_dir: str | os.PathLike,
                 pairs: str | os.PathLike | Iterable[Sequence[str]],
                 protocols: Sequence[str] = ("dpig", "clean"), *,
                 keypoints: str | os.PathLike | dict[str, np.ndarray] | None = None,
                 mask_radius: int = 7,
                 source_masks: dict[str, np.ndarray] | None = None,
                 name_fn: Callable[[str, str], str] = default_name_fn,
                 resize: str = "bicubic",
                 detect_keypoints: Callable[[list[np.ndarray]], np.ndarray] | None = None,
                 fid_reference_dir: str | os.PathLike | None = None,
                 deepfashion_pad: bool = False, is_splits: int = 10,
                 device: str = "cpu", weights_dir: str | os.PathLike | None = None,
                 out_path: str | os.PathLike | None = None,
                 checkpoints: Sequence[str] | dict[str, Any] | None = None,
                 use_cache: bool = True, cache_root: str | os.PathLike | None = None,
                 metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """Evaluate generated images under one or more protocols; optionally write ``metrics.json``.

    Args:
        generated_dir: generated images, one per pair, named ``name_fn(from, to)``.
        target_dir: real images named as in the pairs list (e.g. ``DATA/test``).
        pairs: pairs CSV (``from,to``) or a sequence of pairs; each pair is scored once.
        protocols: names from :data:`~dpiglib.metrics.protocols.PROTOCOLS`, reported separately.
        keypoints: annotation CSV or ``name → (18, 3)`` rcv covering sources and targets; gives the
            DPIG source/target masks, PATN's target mask and PCKh targets (None → those metrics
            are reported unavailable).
        mask_radius: DPIG evaluation mask radius (``DataConfig.eval_mask_radius``: Market 7, DF 4).
        source_masks: ``generated name → (H, W)`` {0,1}, overriding the masks from ``keypoints``.
        name_fn: generated file name of a pair (default ``"<from stem>___<to stem>.png"``).
        resize: ``"bicubic"`` or ``"error"`` for targets whose size differs from the generated.
        detect_keypoints: optional pose estimator for PCKh (list of uint8 images → (N, 18, 3)).
        fid_reference_dir: FID real set (every image in the folder); default the pairs' distinct
            target images.
        deepfashion_pad: PATN's white padding (``patn`` protocol).
        is_splits: IS splits.
        device, weights_dir: networks' device and the folder of user-provided weights.
        out_path: where to write ``metrics.json`` (e.g. ``RUN_DIR/eval/metrics.json``); None = don't.
        checkpoints: the checkpoints that produced the images (paths or a dict), recorded as given.
        use_cache, cache_root: FID statistics cache (default ``~/.cache/dpiglib``).
        metrics: compute only these metric names (in each protocol that has them); None = all.

    Returns:
        The ``metrics.json`` document: ``{"protocols": {name: {"description", "metrics"}},
        "images", "test_set", "library_versions", "device", "checkpoints", ...}``.
    """
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; choose from {', '.join(PROTOCOLS)}")
    if metrics is not None:
        known = {m for p in protocols for m in PROTOCOLS[p].metrics}
        if set(metrics) - known:
            raise ValueError(f"metric(s) {sorted(set(metrics) - known)} are in none of the protocols "
                             f"{list(protocols)}; known: {', '.join(sorted(known))}")
    ev = load_pair_images(generated_dir, target_dir, pairs, name_fn=name_fn, resize=resize)
    kp = _load_keypoints(keypoints)

    src_masks = tgt_masks = tgt_kp = None
    if kp is not None:
        missing = sorted({n for k in ev.keys for n in ev.pairs[k] if n not in kp})
        if missing:
            raise ValueError(f"keypoints missing for {len(missing)} images of the pairs, e.g. {missing[0]!r}")
        tgt_kp, src_masks, tgt_masks = {}, {}, {}
        for k in ev.keys:
            src, dst = ev.pairs[k]
            size = ev.generated[k].shape[:2]
            t_rcv = _scale_rcv(kp[dst], ev.unique_targets[dst].shape[:2], size)
            tgt_kp[k] = t_rcv
            # the source image is not loaded: its keypoints are assumed in the generated frame
            src_masks[k] = dpig_source_mask(kp[src], size, mask_radius)
            tgt_masks[k] = dpig_source_mask(t_rcv, size, mask_radius)
    if source_masks is not None:
        src_masks = source_masks

    fid_ref = None
    fid_ref_info: dict[str, Any] = {"set": "distinct target images of the pairs",
                                    "count": len(ev.unique_targets)}
    if fid_reference_dir is not None:
        files = sorted(p for p in Path(fid_reference_dir).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in fid_reference_dir {fid_reference_dir}")
        fid_ref = [read_image(p, "FID reference image") for p in files]
        fid_ref_info = {"set": str(fid_reference_dir), "count": len(fid_ref)}
    else:
        fid_ref = list(ev.unique_targets.values())

    results = {}
    for name in protocols:
        values = compute_metrics(
            ev.generated, ev.targets, name, source_masks=src_masks, target_masks=tgt_masks,
            target_keypoints=tgt_kp, detect_keypoints=detect_keypoints, fid_reference=fid_ref,
            deepfashion_pad=deepfashion_pad, is_splits=is_splits,
            weights_dir=None if weights_dir is None else str(weights_dir), device=str(device),
            use_cache=use_cache, cache_root=None if cache_root is None else str(cache_root),
            metrics=None if metrics is None else [m for m in metrics if m in PROTOCOLS[name].metrics])
        results[name] = {"description": PROTOCOLS[name].describe(), "metrics": values}

    doc = {
        "protocols": results,
        "weights": _collect_weights(results),
        "images": {**ev.info, "generated_dir": str(generated_dir), "target_dir": str(target_dir),
                   "pairs_source": str(pairs) if isinstance(pairs, (str, os.PathLike)) else "in-memory list",
                   "image_size": list(ev.generated[ev.keys[0]].shape[:2]),
                   "dpig_mask_radius": mask_radius if kp is not None else None,
                   "fid_reference": fid_ref_info},
        "test_set": TEST_SET_NOTE,
        "library_versions": library_versions(),
        "device": device_info(str(device)),
        "checkpoints": checkpoints if checkpoints is not None else [],
    }
    if out_path is not None:
        write_metrics_json(out_path, doc)
    return doc
