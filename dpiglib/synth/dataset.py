"""Writing SynthPerson datasets and re-rendering their ground truth.

:func:`generate_synthperson` writes the real-data layout of orig §2.1 (orig §2.8, ``docs/data.md``)
with prefix ``synth``, plus the factors CSV and true masks::

    ROOT/train/ ROOT/test/                  PPPP_cCs1_FFFFFF_00.png (C = view: 1 front .. 4 right)
    ROOT/{train,test}_mask/NAME.png         true foreground, 0/255
    ROOT/synth-annotation-{split}.csv       name:keypoints_y:keypoints_x (-1 = missing)
    ROOT/synth-pairs-{split}.csv            from,to: every ordered same-identity pair (orig §2.6,
                                            rule "dpig": all-missing images excluded)
    ROOT/synth-factors-{split}.csv          name, identity, split, image_index, app_*, pose_*, bg_*
    ROOT/synth-complete.json                the parameters; written last

Each factor is drawn from its own seeded generator (``[seed, kind, identity, image]``), so the
output is byte-identical for a seed and an identity looks the same whatever the dataset size.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dpiglib.data.annotations import build_pairs, write_annotation_csv, write_pairs_csv
from dpiglib.core.fileio import atomic_write_json
from dpiglib.synth.renderer import (STYLES, VIEWS, Appearance, Background, PoseParams,
                                    RenderResult, SynthPersonRenderer, encode_png,
                                    factors_from_row, sample_appearance, sample_background,
                                    sample_pose)

__all__ = ["SynthError", "generate_synthperson", "load_factors", "SynthGroundTruth", "rerender",
           "image_name", "dataset_params", "COMPLETE_MARKER"]

COMPLETE_MARKER = "synth-complete.json"
_STARTED_MARKER = "synth-incomplete.json"
_FORMAT_VERSION = 1
_SPLITS = ("train", "test")
# Streams of the per-image generators: appearance per identity, pose+background per image.
_APP_STREAM, _IMAGE_STREAM = 1, 2


_COLUMN_TYPES: dict[str, type] = {"name": str, "identity": int, "split": str,
                                  "image_index": int, **Appearance.column_types(),
                                  **PoseParams.column_types(), **Background.column_types()}


class SynthError(ValueError):
    """Bad generation parameters, or a folder that holds something else."""


def _outputs(root: Path) -> list[Path]:
    out = []
    for split in _SPLITS:
        out += [root / split, root / f"{split}_mask"]
        out += [root / f"synth-{kind}-{split}.csv" for kind in ("annotation", "pairs", "factors")]
    return out + [root / COMPLETE_MARKER, root / _STARTED_MARKER]


def _remove_outputs(root: Path) -> None:
    for p in _outputs(root):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def _validate(identities, images_per_identity, test_identities, size, seed, style) -> dict:
    def _int(name, v, lo):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise SynthError(f"{name} must be an int >= {lo}; got {v!r}")
        return int(v)

    params = {"identities": _int("identities", identities, 1),
              "images_per_identity": _int("images_per_identity", images_per_identity, 1),
              "test_identities": _int("test_identities", test_identities, 0),
              "seed": _int("seed", seed, 0)}
    if params["identities"] + params["test_identities"] > 9999:
        raise SynthError("identities + test_identities must be <= 9999 (4-digit Market ids)")
    if params["images_per_identity"] > 999_999:
        raise SynthError("images_per_identity must be <= 999999 (6-digit frame numbers)")
    if style not in STYLES:
        raise SynthError(f"style must be one of {', '.join(STYLES)}; got {style!r}")
    try:
        renderer = SynthPersonRenderer(tuple(size), style)
    except (TypeError, ValueError) as e:
        raise SynthError(f"size: {e}") from None
    params.update(size=list(renderer.size), style=style, format=_FORMAT_VERSION)
    return params


def image_name(identity: int, view: str, index: int) -> str:
    """Market-style name ``PPPP_cCs1_FFFFFF_00.png`` (camera C = 1 + view index)."""
    return f"{identity:04d}_c{VIEWS.index(view) + 1}s1_{index:06d}_00.png"


def _render_split(renderer: SynthPersonRenderer, root: Path, split: str, ids: range, k: int,
                  seed: int, bar) -> dict[str, Any]:
    img_dir, mask_dir = root / split, root / f"{split}_mask"
    img_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    names, rcvs, rows = [], [], []
    for pid in ids:
        app = sample_appearance(np.random.default_rng([seed, _APP_STREAM, pid]))
        for i in range(k):
            rng = np.random.default_rng([seed, _IMAGE_STREAM, pid, i])
            pose = sample_pose(rng, renderer.style)
            bg = sample_background(rng, renderer.style)
            res = renderer.render(app, pose, bg)
            name = image_name(pid, pose.view, i)
            (img_dir / name).write_bytes(encode_png(res.image))
            (mask_dir / name).write_bytes(encode_png(res.fg_mask * np.uint8(255)))
            names.append(name)
            rcvs.append(res.rcv)
            rows.append({"name": name, "identity": pid, "split": split, "image_index": i,
                         **app.to_dict(), **pose.to_dict(), **bg.to_dict()})
            bar.update(1)
    # CSVs last, so an interrupted split has no annotation file.
    pairs = build_pairs(names, rcvs, rule="dpig", dataset="synth")
    write_pairs_csv(root / f"synth-pairs-{split}.csv", pairs)
    _write_factors_csv(root / f"synth-factors-{split}.csv", rows)
    write_annotation_csv(root / f"synth-annotation-{split}.csv", names, rcvs)
    all_missing = sum(1 for r in rcvs if not np.any(r[:, 2] > 0))
    return {"images": len(names), "identities": len(ids), "pairs": len(pairs),
            "all_missing": all_missing,
            "missing_keypoints": int(sum(int(np.sum(r[:, 2] == 0)) for r in rcvs))}


def _write_factors_csv(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["name"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)  # floats via repr: they parse back to the same double
    os.replace(tmp, path)


def generate_synthperson(root: str | os.PathLike, identities: int, images_per_identity: int,
                         test_identities: int, size: tuple[int, int] = (128, 64), seed: int = 0,
                         style: str = "market", progress: bool = True,
                         overwrite: bool = False) -> dict[str, Any]:
    """Render a SynthPerson dataset into ``root`` (layout in the module docstring).

    Args:
        root: output folder (created). Identities ``0001 .. identities`` go to ``train``, the
            next ``test_identities`` to ``test`` (disjoint).
        identities: training identities.
        images_per_identity: images per identity (each a new pose and background).
        test_identities: held-out identities (0 = empty test split).
        size: (H, W): (64, 32) CPU preset, (128, 64) Market-like, (256, 256) DeepFashion-like.
        seed: the dataset seed; same arguments → byte-identical files.
        style: ``"market"`` (gradient / texture / clutter backgrounds) or ``"deepfashion"``
            (plain light backgrounds, some upper-body close-ups).
        progress: show a tqdm bar.
        overwrite: replace a complete dataset made with other parameters.

    Returns:
        Summary dict: ``root``, ``params``, ``counts`` per split (images, identities, pairs,
        all_missing, missing_keypoints), ``reused`` (True when a complete dataset with the same
        parameters was already there; nothing is written then) and ``seconds``.

    Raises:
        SynthError: invalid parameters; ``root`` holds a complete dataset with other parameters
            (without ``overwrite``) or files that are not SynthPerson output.
    """
    params = _validate(identities, images_per_identity, test_identities, size, seed, style)
    root = Path(root)
    t0 = time.perf_counter()
    marker = root / COMPLETE_MARKER
    if marker.is_file():
        try:
            done = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            done = {}
        if done.get("params") == params:
            return {"root": str(root), "params": params, "counts": done.get("counts", {}),
                    "reused": True, "seconds": time.perf_counter() - t0}
        if not overwrite:
            old = done.get("params") or {}
            diff = ", ".join(f"{k}={old.get(k)!r} (requested {v!r})" for k, v in params.items()
                             if old.get(k) != v)
            raise SynthError(f"{root} already holds a SynthPerson dataset made with other "
                             f"parameters: {diff or 'unreadable marker'}. Pass overwrite=True "
                             "(--overwrite) to replace it, or choose another folder")
    elif root.is_dir() and not (root / _STARTED_MARKER).is_file():
        foreign = [p.name for p in _outputs(root) if p.exists()]
        foreign += [p.name for p in root.glob("*-annotation-*.csv")]
        if foreign and not overwrite:
            raise SynthError(f"{root} is not an empty folder or a SynthPerson dataset (found "
                             f"{', '.join(sorted(set(foreign)))}); choose another folder or pass "
                             "overwrite=True")
        if any(p.name.split("-")[0] in ("market", "fasion", "fashion")
               for p in root.glob("*-annotation-*.csv")):
            raise SynthError(f"{root} holds a real dataset's annotation CSVs; refusing to write "
                             "SynthPerson into it")
    # An interrupted generation left the started-marker: it is ours to clear.
    _remove_outputs(root)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / _STARTED_MARKER, {"params": params}, sort_keys=True)
    renderer = SynthPersonRenderer(tuple(params["size"]), style)
    n_train, n_test, k = identities, test_identities, images_per_identity
    from tqdm.auto import tqdm

    counts = {}
    with tqdm(total=(n_train + n_test) * k, desc="SynthPerson", unit="img",
              disable=not progress) as bar:
        counts["train"] = _render_split(renderer, root, "train", range(1, n_train + 1), k,
                                        params["seed"], bar)
        counts["test"] = _render_split(renderer, root, "test",
                                       range(n_train + 1, n_train + n_test + 1), k,
                                       params["seed"], bar)
    atomic_write_json(marker, {"params": params, "counts": counts}, sort_keys=True)
    (root / _STARTED_MARKER).unlink()
    return {"root": str(root), "params": params, "counts": counts, "reused": False,
            "seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------------------------
# Reading factors back; ground truth for swaps and pose transfer
# --------------------------------------------------------------------------------------------


def load_factors(root: str | os.PathLike, split: str) -> pd.DataFrame:
    """``synth-factors-{split}.csv`` as a DataFrame indexed by image name (``name`` kept as a
    column too).

    Numbers are converted with Python's ``int`` / ``float`` (every float was written with
    ``repr``), so re-rendering from the table reproduces the written images bit for bit whatever
    pandas' own float parser does.
    """
    path = Path(root) / f"synth-factors-{split}.csv"
    if not path.is_file():
        raise SynthError(f"factors file {path} not found (generate the dataset with "
                         "generate_synthperson or `python -m data_prep.synth`)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in _COLUMN_TYPES if c not in df.columns]
    if missing:
        raise SynthError(f"{path}: missing column(s) {', '.join(missing[:5])}")
    for col, typ in _COLUMN_TYPES.items():
        if typ is not str:
            try:
                df[col] = df[col].map(typ)
            except ValueError as e:
                raise SynthError(f"{path}: column {col!r}: {e}") from None
    dup = df["name"].duplicated()
    if dup.any():
        raise SynthError(f"{path}: duplicate image name {df['name'][dup].iloc[0]!r}")
    return df.set_index("name", drop=False)


def dataset_params(root: str | os.PathLike) -> dict[str, Any]:
    """The parameters a complete SynthPerson dataset was generated with (its
    ``synth-complete.json``): ``identities``, ``images_per_identity``, ``test_identities``,
    ``size``, ``seed``, ``style``.

    Raises:
        SynthError: ``root`` holds no complete SynthPerson dataset, or its marker is unreadable.
    """
    marker = Path(root) / COMPLETE_MARKER
    if not marker.is_file():
        raise SynthError(f"{marker} not found: {root} is not a complete SynthPerson dataset")
    try:
        return dict(json.loads(marker.read_text(encoding="utf-8"))["params"])
    except (OSError, ValueError, KeyError, TypeError) as why:
        raise SynthError(f"{marker} is unreadable ({why}); generate the dataset again") from None


class SynthGroundTruth:
    """True renders of any (appearance, pose, background) combination of a generated split.

    >>> gt = SynthGroundTruth(root, "test")                     # doctest: +SKIP
    >>> gt.render(appearance_from=src, pose_from=tgt).image      # pose transfer ground truth

    Args:
        root: a folder written by :func:`generate_synthperson` (size and style come from its
            ``synth-complete.json``).
        split: ``"train"`` or ``"test"``.
    """

    def __init__(self, root: str | os.PathLike, split: str):
        root = Path(root)
        params = dataset_params(root)
        self.renderer = SynthPersonRenderer(tuple(params["size"]), params["style"])
        self.table = load_factors(root, split)
        self.split = split

    def factors(self, name: str) -> tuple[Appearance, PoseParams, Background]:
        """(appearance, pose, background) of one image of the split."""
        if name not in self.table.index:
            raise KeyError(f"image {name!r} is not in the {self.split} factors table")
        return factors_from_row(self.table.loc[name])

    def render(self, appearance_from: str, pose_from: str | None = None,
               background_from: str | None = None) -> RenderResult:
        """Render the appearance of one image, the pose of another, the background of a third.

        ``pose_from`` / ``background_from`` default to ``appearance_from``; e.g.
        ``render(src, pose_from=tgt)`` is the pose-transfer ground truth (source appearance and
        background, target pose), ``render(src, background_from=other)`` a background swap.
        """
        app = self.factors(appearance_from)[0]
        pose = self.factors(pose_from or appearance_from)[1]
        bg = self.factors(background_from or appearance_from)[2]
        return self.renderer.render(app, pose, bg)


def rerender(root: str | os.PathLike, split: str, appearance_from: str,
             pose_from: str | None = None, background_from: str | None = None) -> RenderResult:
    """One-off :meth:`SynthGroundTruth.render` (reads the factors table each call)."""
    return SynthGroundTruth(root, split).render(appearance_from, pose_from, background_from)
