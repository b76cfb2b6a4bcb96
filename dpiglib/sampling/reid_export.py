"""The "virtual Market" re-ID set: sampled identities written in Market-1501 format (orig §5 item 3).

The released tester (model 11) makes one virtual identity per batch: one sampled foreground
Φ_fg(z) tiled over the batch, a sampled background Φ_bg(z) per image, and the *real poses* of a
training batch; 751 identities × 32 images, each scored by the Stage-I discriminator (mean logit
of D on G). The released VirtualMarket set has 500 × 24; the selection step is not in the code.
Here ``keep_best=(N, K)`` makes that step explicit: keep the K best-scored images of each identity,
then the N identities with the best mean kept score (a stated choice, not the authors').

Layout::

    OUT/bounding_box_train/PPPP_c1s1_FFFFFF_00.jpg   PPPP = identity (0001…), FFFFFF = image
    OUT/scores.csv                                   name, identity, d_score, pose_source, …
    OUT/candidates.csv                               every generated image (keep_best only)

DF models (no fg/bg split) sample the one appearance factor ``app`` per identity instead.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["MARKET_NAME", "market_name", "export_reid"]

#: Market-1501 file names: identity, camera, sequence, frame, bounding box (orig §2.8).
MARKET_NAME = re.compile(r"^(\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")


def market_name(identity: int, frame: int) -> str:
    """``PPPP_c1s1_FFFFFF_00.jpg`` for a virtual identity (camera 1, sequence 1, box 00)."""
    if not 0 < identity <= 9999 or not 0 <= frame <= 999_999:
        raise ValueError(f"Market names hold identities 1..9999 and frames 0..999999; got "
                         f"identity {identity}, frame {frame}")
    return f"{identity:04d}_c1s1_{frame:06d}_00.jpg"


def _save_jpeg(img: torch.Tensor, path: Path, quality: int) -> None:
    from PIL import Image

    from dpiglib.data.datasets import to_uint8

    Image.fromarray(to_uint8(img)).save(path, quality=quality)


@torch.no_grad()
def export_reid(sampler, out_dir: str | os.PathLike, identities: int, images_per_identity: int,
                seed: int = 0, poses: Any = None, keep_best: tuple[int, int] | None = None,
                quality: int = 95, overwrite: bool = False) -> dict[str, Any]:
    """Write ``identities`` × ``images_per_identity`` sampled images in Market-1501 format.

    Each identity is one Φ_fg(z) (DF: Φ_app) over all its images; every image gets its own
    Φ_bg(z) and a real pose drawn at random from ``poses`` (default: the sampler's pose bank of
    training poses). Identity i draws from its own streams (seed, i), so an identity does not
    depend on how many are exported. D scores are computed per identity batch (the D normalises
    with batch statistics, as the tester's 32-image batches did).

    Args:
        sampler: a :class:`dpiglib.sampling.sampler.Sampler` with Stage-II.
        out_dir: output folder (layout in the module docstring).
        identities: N candidate identities (≤ 9999).
        images_per_identity: K candidate images per identity.
        seed: export seed.
        poses: (P, 18, 3) real poses in pixels, or None for the sampler's pose bank.
        keep_best: ``(n, k)``: keep the k best images of each identity, then the n identities with
            the best mean kept score; identities are renumbered 0001..n. None keeps everything.
        quality: JPEG quality.
        overwrite: replace an existing ``bounding_box_train``.

    Returns:
        dict with ``root``, ``images`` (folder), ``scores`` (DataFrame of the kept images),
        ``scores_csv``, ``identities``, ``images_per_identity`` and ``candidates`` (DataFrame).

    Raises:
        ValueError: bad sizes, no poses, or an existing export without ``overwrite``.
    """
    import pandas as pd

    from dpiglib.sampling.factors import factor_generator

    n_id, k_img = int(identities), int(images_per_identity)
    if not 0 < n_id <= 9999 or k_img < 1:
        raise ValueError(f"identities must be in 1..9999 and images_per_identity >= 1; got "
                         f"{identities} and {images_per_identity}")
    if keep_best is not None:
        n_keep, k_keep = (int(v) for v in keep_best)
        if not (0 < n_keep <= n_id and 0 < k_keep <= k_img):
            raise ValueError(f"keep_best=(n, k) must satisfy 0 < n <= identities ({n_id}) and "
                             f"0 < k <= images_per_identity ({k_img}); got {keep_best}")
    if poses is None:
        if sampler.pose_bank is None:
            raise ValueError("export_reid draws real poses, but none were given (poses=...) and "
                             "the sampler has no pose bank (Sampler.load_pose_bank(data_root))")
        bank, bank_names = sampler.pose_bank, sampler.pose_bank_names
    else:
        bank = torch.as_tensor(np.asarray(poses, np.float32)).reshape(-1, 18, 3)
        bank_names = None
    app = sampler.appearance_names[0]  # fg (Market) or app (DF): one per identity
    out = Path(out_dir)
    img_dir = out / "bounding_box_train"
    if img_dir.exists():
        if not overwrite:
            raise ValueError(f"{img_dir} already exists; pass overwrite=True to replace it")
        shutil.rmtree(img_dir)
    stage = out / ".candidates" if keep_best is not None else img_dir
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    rows = []
    for i in range(1, n_id + 1):
        id_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        e_app = sampler.sample_factors(1, [app], seed=id_seed)  # one appearance per identity
        pick = torch.randint(0, len(bank), (k_img,), generator=factor_generator(id_seed, "pose"))
        fac = sampler.compose(k_img, seed=id_seed, **{app: e_app}, pose=bank[pick])
        raw = sampler.render(fac, clip=False)
        scores = sampler.discriminator_score(raw).cpu()
        for j in range(k_img):
            name = market_name(i, (i - 1) * k_img + j)
            _save_jpeg(raw[j].clamp(-1, 1), stage / name, quality)
            rows.append({"name": name, "identity": i, "d_score": float(scores[j]),
                         "pose_source": bank_names[int(pick[j])] if bank_names else int(pick[j])})
    cand = pd.DataFrame(rows)
    if keep_best is None:
        kept = cand
    else:
        best = (cand.sort_values(["identity", "d_score"], ascending=[True, False], kind="stable")
                .groupby("identity", sort=False).head(k_keep))
        means = best.groupby("identity")["d_score"].mean().sort_values(ascending=False,
                                                                        kind="stable")
        chosen = list(means.index[:n_keep])
        img_dir.mkdir(parents=True)
        kept_rows = []
        for new_id, old_id in enumerate(chosen, start=1):
            sub = best[best["identity"] == old_id]
            for j, r in enumerate(sub.itertuples(index=False)):
                name = market_name(new_id, (new_id - 1) * k_keep + j)
                os.replace(stage / r.name, img_dir / name)
                kept_rows.append({"name": name, "identity": new_id, "d_score": r.d_score,
                                  "pose_source": r.pose_source, "candidate": r.name,
                                  "candidate_identity": old_id})
        shutil.rmtree(stage)
        kept = pd.DataFrame(kept_rows)
        cand.to_csv(out / "candidates.csv", index=False)
    kept.to_csv(out / "scores.csv", index=False)
    return {"root": str(out), "images": str(img_dir), "scores": kept,
            "scores_csv": str(out / "scores.csv"), "identities": int(kept["identity"].nunique()),
            "images_per_identity": int(kept.groupby("identity").size().min()),
            "candidates": cand}
