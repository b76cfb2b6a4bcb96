"""Stage-I embeddings as Stage-II data (orig §4.3 "real embeddings", orig §4.4, orig B1, orig B2, orig B4).

* :func:`stage1_fingerprint`: SHA-256 of the Stage-I weights a Stage-II run depends on; Stage-II
  checkpoints and the embedding cache record it, so Φ is never paired with another encoder.
* :func:`real_embeddings`: the frozen Stage-I encoders applied to the whole training split (both
  flips): fg/bg (or DF app) from images through the visibility-gated encoder of Stage-I (orig B4),
  pose from keypoints through the *trained* pose auto-encoder (orig B2). :func:`cached_embeddings`
  keeps that table on disk (``stage2/embeddings.pt``), keyed by the fingerprint.
* :func:`example_batch`, :func:`sample_factor_images`: decode one factor at a time from Φ with
  the Stage-I generator (the fixed orig B1: a sampled pose is Φ_pose(z), decoded and rasterised).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from dpiglib.core.checkpoint import CheckpointError, save_checkpoint, weights_fingerprint
from dpiglib.config import RunConfig
from dpiglib.core.runtime import resolve_device

__all__ = ["APPEARANCE_FACTORS", "stage1_fingerprint", "needed_fingerprint", "real_embeddings",
           "cached_embeddings", "example_batch", "sample_factor_images"]

APPEARANCE_FACTORS = ("fg", "bg", "app")  # encoded from images; "pose" from keypoints


def stage1_fingerprint(stage1_model: nn.Module | None, pose_ae: nn.Module | None) -> dict[str, str]:
    """SHA-256 of the Stage-I weights Stage-II depends on: ``{"image": …, "pose": …}``.

    ``image`` covers the encoder (defines the real fg/bg/app embeddings) and the generator (decodes
    Φ's samples); the discriminator is left out. ``pose`` covers the whole pose auto-encoder.
    """
    out = {}
    if stage1_model is not None:
        sd = {k: v for k, v in stage1_model.state_dict().items()
              if k.startswith(("encoder.", "generator."))}
        out["image"] = weights_fingerprint(sd)
    if pose_ae is not None:
        out["pose"] = weights_fingerprint(pose_ae.state_dict())
    return out


def needed_fingerprint(fp: dict[str, str], factors: Sequence[str]) -> dict[str, str]:
    """The entries of ``fp`` that ``factors`` depend on (image for fg/bg/app, pose for pose)."""
    keys = (["image"] if any(f in APPEARANCE_FACTORS for f in factors) else []) + (
        ["pose"] if "pose" in factors else [])
    return {k: fp[k] for k in keys if k in fp}


@torch.no_grad()
def real_embeddings(stage1_model: nn.Module | None, pose_ae: nn.Module | None, cfg: RunConfig,
                    data_root: str | os.PathLike, factors: Sequence[str],
                    device: str | torch.device = "cpu", batch_size: int = 64,
                    progress: bool = False) -> dict[str, torch.Tensor]:
    """Encode the training split with the frozen Stage-I networks (orig §4.3 "real embeddings").

    Appearance: every training image, unflipped and (if ``cfg.data.flip``) flipped, through the
    Stage-I encoder with its boxes, visibilities and pose mask (the same gated encoder as Stage-I,
    orig B4): ``fg`` (N, 224), ``bg`` (N, 128), or ``app`` (N, 224) on DF. Pose: every annotated train
    pose that has a visible keypoint (and its mirror), normalised, through the *trained* pose
    encoder (orig B2): ``pose`` (N, 32).

    ``progress`` shows a tqdm bar over the appearance pass: on a CPU it is minutes at 128×64 (the
    pretrained build encodes 25,600 items), long enough to look like a hang without one.

    Returns:
        factor → float32 CPU tensor (N_factor, D_factor).
    """
    from tqdm.auto import tqdm

    from dpiglib.data.annotations import find_dataset_files, is_all_missing, read_annotation_csv
    from dpiglib.data.datasets import PersonDataset, prepare_batch
    from dpiglib.data.pose import flip_rcv, normalize_rcv

    dev = resolve_device(device)
    out: dict[str, list[torch.Tensor]] = {f: [] for f in factors}
    flips = (False, True) if cfg.data.flip else (False,)
    app = [f for f in factors if f in APPEARANCE_FACTORS]
    if app:
        if stage1_model is None:
            raise CheckpointError("appearance factors need the Stage-I image model")
        enc = stage1_model.encoder.to(dev).eval()
        ds = PersonDataset(data_root, "train", cfg.data, flip=False)
        items = [(i, fl) for fl in flips for i in range(len(ds))]
        collate = torch.utils.data.default_collate
        bar = tqdm(total=len(items), desc="encode training set", unit="img", disable=not progress,
                   leave=False)
        for s in range(0, len(items), batch_size):
            b = prepare_batch(collate([ds.load(i, flip=fl) for i, fl in items[s:s + batch_size]]),
                              cfg.data, dev)
            e_fg, e_bg = enc(b["image"], b["boxes"], b["box_vis"], b["mask"])
            for f, e in (("fg", e_fg), ("bg", e_bg), ("app", e_fg)):
                if f in out:
                    out[f].append(e.float().cpu())
            bar.update(len(b["image"]))
        bar.close()
    if "pose" in factors:
        if pose_ae is None:
            raise CheckpointError("the pose factor needs the trained pose auto-encoder (orig B2)")
        files = find_dataset_files(data_root, "train", cfg.data.dataset)
        rcvs = [r for r in read_annotation_csv(files.annotation).values() if not is_all_missing(r)]
        if not rcvs:
            raise ValueError(f"{files.annotation} has no pose with a visible keypoint")
        rcv = torch.from_numpy(np.stack(rcvs)).to(dev)  # (N, 18, 3)
        variants = [rcv] + ([flip_rcv(rcv, cfg.data.image_width)] if cfg.data.flip else [])
        pae = pose_ae.to(dev).eval()
        for v in variants:
            out["pose"].append(pae.encode(normalize_rcv(v, cfg.data.image_size)).float().cpu())
    return {f: torch.cat(v) for f, v in out.items()}


def cached_embeddings(path: Path, key: dict[str, Any], compute) -> dict[str, torch.Tensor]:
    """Load ``path`` if its key matches (same Stage-I weights, data, flips, factors), else compute
    and write it atomically."""
    if path.is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("key") == key:
                return blob["embeddings"]
        except Exception:  # unreadable cache: recompute
            pass
    emb = compute()
    save_checkpoint(path, {"key": key, "embeddings": emb})
    return emb


def example_batch(cfg: RunConfig, data_root: str | os.PathLike, n: int = 8, split: str = "test",
                  device: str | torch.device = "cpu") -> dict[str, Any]:
    """The first ``n`` unflipped images of ``split``, collated and prepared (heatmap, mask)."""
    from dpiglib.data.datasets import PersonDataset, prepare_batch

    ds = PersonDataset(data_root, split, cfg.data, flip=False)
    items = [ds.load(i) for i in range(min(n, len(ds)))]
    return prepare_batch(torch.utils.data.default_collate(items), cfg.data, resolve_device(device))


@torch.no_grad()
def sample_factor_images(stage1_model: nn.Module, pose_ae: nn.Module | None, model: nn.Module,
                         batch: dict[str, Any], cfg: RunConfig, seed: int = 0
                         ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Decode images where one factor at a time comes from Φ and the rest from ``batch``.

    Appearance factors: Φ_f(z) replaces that slice of the real embedding; the batch's real pose
    heatmaps are kept. Pose: Φ_pose(z) → pose decoder → :func:`~dpiglib.data.pose.denormalize_rcv` →
    :func:`~dpiglib.data.pose.pose_heatmap` (radius ``heatmap_radius``), decoded with the batch's real
    appearance (orig §4.4; the fixed orig B1: the *sampled* embedding is decoded).

    Returns:
        ``(rows, sampled_rcv)``: rows ``{"real", "reconstruction", <factor>: (B, 3, H, W)}`` (raw
        generator output) and the sampled poses (B, 18, 3) in pixels (None without ``pose``).
    """
    from dpiglib.data.pose import denormalize_rcv, pose_heatmap

    g = torch.Generator().manual_seed(int(seed))
    enc, gen = stage1_model.encoder.eval(), stage1_model.generator.eval()
    img, heat = batch["image"], batch["heatmap"]
    b = img.shape[0]
    e_fg, e_bg = enc(img, batch["boxes"], batch["box_vis"], batch["mask"])
    parts = {"fg": e_fg, "app": e_fg, "bg": e_bg}

    def decode(emb: dict[str, torch.Tensor], hm: torch.Tensor) -> torch.Tensor:
        e = emb["fg"] if emb["bg"] is None else torch.cat([emb["fg"], emb["bg"]], dim=1)
        return gen(e, hm)

    rows = {"real": img, "reconstruction": decode(parts, heat)}
    rcv = None
    for f in model.factors:
        fake = model.sample(f, b, g).to(img.device)
        if f == "pose":
            if pose_ae is None:
                raise ValueError("decoding sampled poses needs the pose auto-encoder")
            rcv = denormalize_rcv(pose_ae.eval().decode(fake), cfg.data.image_size)  # (B, 18, 3)
            rows["pose"] = decode(parts, pose_heatmap(rcv, cfg.data.image_size,
                                                      cfg.data.heatmap_radius))
        else:
            key = "bg" if f == "bg" else "fg"
            rows[f] = decode({**parts, key: fake}, heat)
    return rows, rcv
