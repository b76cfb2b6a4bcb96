"""The on-disk dataset format: keypoint annotation CSVs, pairs CSVs, identities, pair rules.

This is the de-facto Def-GAN / PATN format (``docs/data.md``, orig §2.8) that the released
Market-1501 and DeepFashion keypoints use, and that SynthPerson is written in (orig §2.1, orig §2.6):

* ``{prefix}-annotation-{split}.csv``: header ``name:keypoints_y:keypoints_x``, rows
  ``NAME: [y0, ..., y17]: [x0, ..., x17]`` (integer pixels, ``-1`` = missing).
* ``{prefix}-pairs-{split}.csv``: header ``from,to``.

Inside the kit a pose is ``rcv`` (18, 3) float32 of (row, col, visible) with missing = (0, 0, 0);
``-1`` appears only in these files. Every error names the file and the 1-based line.
:mod:`dpiglib.data.datasets` re-exports everything public here.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpiglib.core.fileio import atomic_write_text

__all__ = [
    "DatasetError",
    "ANNOTATION_HEADER",
    "PAIRS_HEADER",
    "DATASET_PREFIXES",
    "format_annotation_row",
    "write_annotation_csv",
    "read_annotation_csv",
    "iter_annotation_rows",
    "annotation_lines",
    "parse_annotation_line",
    "write_pairs_csv",
    "read_pairs_csv",
    "identity_of",
    "is_all_missing",
    "DatasetFiles",
    "find_dataset_files",
    "build_pairs",
    "PAIR_RULES",
]

NUM_KEYPOINTS = 18
ANNOTATION_HEADER = "name:keypoints_y:keypoints_x"
PAIRS_HEADER = "from,to"
# Prefixes tried in this order. "fasion" is the PATN family's historical spelling (orig §6.8 item 13).
# "photos" is written by data_prep.photos / pose2sim_mini (docs/own_photos.md): Market-style
# names at any size, so it matches whichever dataset kind a config asks for.
DATASET_PREFIXES: tuple[str, ...] = ("market", "fasion", "fashion", "synth", "photos")
_PREFIX_DATASET = {"market": "market", "fasion": "deepfashion", "fashion": "deepfashion",
                   "synth": "synth", "photos": "photos"}
# Def-GAN's check_valid: both shoulders and both hips present (orig §2.8, "Pairs").
_DEFGAN_REQUIRED = (2, 5, 8, 11)
PAIR_RULES: tuple[str, ...] = ("dpig", "defgan")


class DatasetError(ValueError):
    """A malformed or inconsistent dataset file; the message names the file (and line)."""

    def __init__(self, message: str, path: str | os.PathLike | None = None,
                 line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}" + (f", line {line}" if line is not None else "") + ": "
        super().__init__(where + message)
        self.path = None if path is None else str(path)
        self.line = line


# --------------------------------------------------------------------------------------------
# Annotation CSV
# --------------------------------------------------------------------------------------------


def _rcv_to_lists(rcv: np.ndarray, name: str) -> tuple[list[int], list[int]]:
    """(18, 3) rcv → Python int lists ys, xs with -1 for missing (truncated like orig §2.3)."""
    rcv = np.asarray(rcv, dtype=np.float64)
    if rcv.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"rcv of {name!r} must have shape (18, 3), got {rcv.shape}")
    ys: list[int] = []
    xs: list[int] = []
    for k, (r, c, v) in enumerate(rcv):
        if v > 0:
            # int() truncation is what heatmaps/boxes do with the float anyway, so writing then
            # reading a pose gives the same network inputs.
            ri, ci = int(r), int(c)
            if ri < 0 or ci < 0 or not (np.isfinite(r) and np.isfinite(c)):
                raise ValueError(
                    f"keypoint {k} of {name!r} is visible at (row={r}, col={c}), outside the "
                    "image; mark it missing (visible=0) before writing")
            ys.append(ri)
            xs.append(ci)
        else:
            ys.append(-1)
            xs.append(-1)
    return ys, xs


def format_annotation_row(name: str, rcv: np.ndarray) -> str:
    """One annotation line (no newline) exactly as compute_coordinates.py wrote it.

    ``"%s: %s: %s" % (name, str(list(ys)), str(list(xs)))`` with Python ints, so the list repr is
    ``[14, 24, -1]`` (numpy 2 scalars would print ``np.int64(14)``).
    """
    if not name or any(ch in name for ch in ":\n\r,") or name != name.strip():
        raise ValueError(f"image name {name!r} cannot be written: empty, padded, or contains "
                         "':', ',' or a newline")
    ys, xs = _rcv_to_lists(rcv, name)
    return "%s: %s: %s" % (name, str(ys), str(xs))


def write_annotation_csv(path: str | os.PathLike, names: Sequence[str],
                         rcvs: Sequence[np.ndarray] | np.ndarray) -> Path:
    """Write ``{prefix}-annotation-{split}.csv`` in the released format.

    Args:
        path: output file.
        names: image file names (with extension), one per row, unique.
        rcvs: (N, 18, 3) or a sequence of (18, 3) poses in pixels (row, col, visible).
            Visible coordinates are truncated to int; invisible ones are written as -1.

    Returns:
        The path written (LF line endings, trailing newline; written atomically).
    """
    names = list(names)
    if len(names) != len(rcvs):
        raise ValueError(f"{len(names)} names but {len(rcvs)} poses")
    dup = _first_duplicate(names)
    if dup is not None:
        raise ValueError(f"duplicate image name {dup!r}; names must be unique per split")
    lines = [ANNOTATION_HEADER] + [format_annotation_row(n, r) for n, r in zip(names, rcvs)]
    return _atomic_write(path, "\n".join(lines) + "\n")


def _atomic_write(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_text(path, text)


def _first_duplicate(names: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return None


def _finite(v: int | float) -> bool:
    try:
        return math.isfinite(v)  # a JSON int beyond float range raises OverflowError here
    except OverflowError:
        return False


def _parse_list(text: str, what: str, path, line: int) -> list[float]:
    try:
        values = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: "[[[[..." thousands deep
        raise DatasetError(f"{what} is not a list of numbers: {text.strip()[:60]!r}", path, line)
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise DatasetError(f"{what} is not a list of numbers: {text.strip()[:60]!r}", path, line)
    if len(values) != NUM_KEYPOINTS:
        raise DatasetError(f"{what} has {len(values)} values, expected 18", path, line)
    if not all(_finite(v) for v in values):
        raise DatasetError(f"{what} contains NaN, infinity or a number too large for a float",
                           path, line)
    return values


def iter_annotation_rows(path: str | os.PathLike, image_size: tuple[int, int] | None = None,
                         clip: bool = False) -> Iterator[tuple[int, str, np.ndarray]]:
    """Yield ``(line_number, name, rcv)`` for each row, raising :class:`DatasetError` on a bad one.

    Tolerates what ``pd.read_csv(sep=':')`` + ``json.loads`` tolerate in the released files:
    spaces around fields, CRLF line ends, a UTF-8 BOM and blank lines. A keypoint counts as
    missing if its y or x is -1 (Def-GAN's ``MISSING_VALUE``).

    Args:
        path: the annotation CSV.
        image_size: (H, W) the coordinates refer to; when given, a visible keypoint outside
            ``[0, H-1] × [0, W-1]`` is an error naming the row, or is clipped with ``clip=True``.
        clip: clip out-of-image keypoints into the image instead of raising.
    """
    for lineno, text in annotation_lines(path):
        name, rcv = parse_annotation_line(text, path, lineno, image_size, clip)
        yield lineno, name, rcv


def annotation_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Check the header and yield ``(line_number, text)`` for each non-blank data line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError("annotation file not found", path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        header_seen = False
        for lineno, raw in enumerate(f, start=1):
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            if not header_seen:
                if [s.strip() for s in text.split(":")] != ANNOTATION_HEADER.split(":"):
                    raise DatasetError(
                        f"expected the header {ANNOTATION_HEADER!r} (':'-separated), "
                        f"found {text[:80]!r}", path, lineno)
                header_seen = True
                continue
            yield lineno, text
        if not header_seen:
            raise DatasetError(f"empty file: expected the header {ANNOTATION_HEADER!r}", path)


def parse_annotation_line(text: str, path: str | os.PathLike | None = None,
                          line: int | None = None, image_size: tuple[int, int] | None = None,
                          clip: bool = False) -> tuple[str, np.ndarray]:
    """Parse one data line ``NAME: [y0, ...]: [x0, ...]`` into ``(name, rcv)``.

    ``path`` and ``line`` only label errors; see :func:`iter_annotation_rows` for the rules.
    """
    fields = text.split(":")
    if len(fields) != 3:
        raise DatasetError(
            f"expected 3 ':'-separated fields 'NAME: [y...]: [x...]', found {len(fields)}",
            path, line)
    name = fields[0].strip()
    if not name:
        raise DatasetError("empty image name", path, line)
    ys = _parse_list(fields[1], "keypoints_y", path, line)
    xs = _parse_list(fields[2], "keypoints_x", path, line)
    rcv = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
    for k, (y, x) in enumerate(zip(ys, xs)):
        if y == -1 or x == -1:
            continue
        if image_size is not None:
            h, w = image_size
            if not (0 <= y <= h - 1 and 0 <= x <= w - 1):
                if not clip:
                    raise DatasetError(
                        f"keypoint {k} of {name!r} at (y={y}, x={x}) lies outside the "
                        f"{h}x{w} image; fix the row, or clip it into the image with clip=True "
                        "(PersonDataset: clip_keypoints=True)", path, line)
                y, x = min(max(y, 0), h - 1), min(max(x, 0), w - 1)
        elif y < 0 or x < 0:
            raise DatasetError(
                f"keypoint {k} of {name!r} has a negative coordinate (y={y}, x={x}); "
                "only -1 (missing) is allowed", path, line)
        rcv[k] = (y, x, 1.0)
    return name, rcv


def read_annotation_csv(path: str | os.PathLike, image_size: tuple[int, int] | None = None,
                        clip: bool = False) -> dict[str, np.ndarray]:
    """Read an annotation CSV into ``{name: rcv}`` in file order.

    Args:
        path: ``{prefix}-annotation-{split}.csv``.
        image_size: optional (H, W) bound check (see :func:`iter_annotation_rows`).
        clip: clip out-of-image keypoints instead of raising.

    Returns:
        dict name → float32 (18, 3) (row, col, visible); missing keypoints are (0, 0, 0).
        All-missing rows are kept (the released Market test file has them).

    Raises:
        DatasetError: wrong header or delimiter, wrong field count, non-numeric values, not 18
            values, out-of-image keypoints or a duplicate name; the message names file and line.
    """
    out: dict[str, np.ndarray] = {}
    first_line: dict[str, int] = {}
    for lineno, name, rcv in iter_annotation_rows(path, image_size, clip):
        if name in out:
            raise DatasetError(f"duplicate image name {name!r} (first on line "
                               f"{first_line[name]})", path, lineno)
        out[name] = rcv
        first_line[name] = lineno
    return out


def is_all_missing(rcv: np.ndarray) -> bool:
    """True when none of the 18 keypoints is visible (legal rows, never paired)."""
    return not bool(np.any(np.asarray(rcv)[..., 2] > 0))


# --------------------------------------------------------------------------------------------
# Pairs CSV
# --------------------------------------------------------------------------------------------


def write_pairs_csv(path: str | os.PathLike, pairs: Iterable[tuple[str, str]]) -> Path:
    """Write ``{prefix}-pairs-{split}.csv``: header ``from,to``, one ``A,B`` per line (LF)."""
    lines = [PAIRS_HEADER]
    for i, pair in enumerate(pairs):
        a, b = pair
        for n in (a, b):
            if not n or any(ch in n for ch in ',"\n\r'):
                raise ValueError(f"pair {i}: image name {n!r} cannot be written to a pairs CSV")
        lines.append(f"{a},{b}")
    return _atomic_write(path, "\n".join(lines) + "\n")


def _read_pairs_with_lines(path: str | os.PathLike) -> list[tuple[int, str, str]]:
    """``[(line, from, to), ...]``: :func:`read_pairs_csv` with 1-based line numbers."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError("pairs file not found", path)
    out: list[tuple[int, str, str]] = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DatasetError("empty file: expected the header 'from,to'", path)
        cols = [h.strip() for h in header]
        if "from" not in cols or "to" not in cols:
            raise DatasetError(f"expected columns 'from' and 'to' (comma-separated), found "
                               f"{','.join(header)[:80]!r}", path, 1)
        i_from, i_to = cols.index("from"), cols.index("to")
        for row in reader:
            lineno = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(i_from, i_to):
                raise DatasetError(f"expected {len(cols)} comma-separated fields, found "
                                   f"{len(row)}", path, lineno)
            a, b = row[i_from].strip(), row[i_to].strip()
            if not a or not b:
                raise DatasetError("empty image name in a pair", path, lineno)
            out.append((lineno, a, b))
    return out


def read_pairs_csv(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a pairs CSV as ``[(from, to), ...]`` in file order.

    Extra columns (e.g. a pandas index column, written by some copies) are ignored; the
    ``from`` and ``to`` columns are found by name.

    Raises:
        DatasetError: missing file, missing ``from``/``to`` columns, a short row or an empty name
            (message names file and 1-based line).
    """
    return [(a, b) for _, a, b in _read_pairs_with_lines(path)]


# --------------------------------------------------------------------------------------------
# Identities
# --------------------------------------------------------------------------------------------

_DF_ID = re.compile(r"id_?(\d{8})")


def identity_of(name: str, dataset: str) -> str:
    """The person identity encoded in an image name.

    * ``market`` / ``synth``: the part before the first ``_`` (Market ``0161_c3s3_...`` →
      ``0161``; ``-1`` = distractor, ``0000`` = junk; SynthPerson ``PPPP_...``).
    * ``deepfashion``: ``id`` + the 8 digits of the In-shop item id. PATN-family names flatten
      ``img/WOMEN/Dresses/id_00002629/02_3_back.jpg`` into
      ``fashionWOMENDressesid0000262902_3back.jpg`` → ``id00002629``. Categories such as
      ``Blouses_Shirts`` contain ``_``, so ``split('_')[0]`` would be wrong here.

    Raises:
        ValueError: an unknown dataset, or a DeepFashion name without an ``id`` + 8 digits.
    """
    dataset = _PREFIX_DATASET.get(dataset, dataset)
    if dataset in ("market", "synth", "photos"):
        return name.split("_")[0]
    if dataset == "deepfashion":
        found = _DF_ID.findall(name)
        if not found:
            raise ValueError(f"DeepFashion image name {name!r} has no 'id' followed by 8 digits")
        return "id" + found[-1]
    raise ValueError(f"unknown dataset {dataset!r}; expected market, deepfashion or synth")


# --------------------------------------------------------------------------------------------
# Dataset discovery
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetFiles:
    """Where one split of a dataset lives (see :func:`find_dataset_files`)."""

    root: Path
    split: str
    prefix: str  # market | fasion | fashion | synth
    dataset: str  # market | deepfashion | synth
    annotation: Path
    pairs: Path | None  # None when no pairs CSV exists (PersonDataset does not need one)
    image_dir: Path


def _annotation_path(root: Path, prefix: str, split: str) -> Path | None:
    # PATN's DeepFashion download names it fasion-resize-annotation-*.csv, GFLA fasion-annotation-*.
    for cand in (root / f"{prefix}-annotation-{split}.csv",
                 root / f"{prefix}-resize-annotation-{split}.csv"):
        if cand.is_file():
            return cand
    return None


def _pairs_candidates(root: Path, prefix: str, split: str) -> list[Path]:
    return [root / f"{prefix}-pairs-{split}.csv", root / f"{prefix}-resize-pairs-{split}.csv"]


def find_dataset_files(root: str | os.PathLike, split: str,
                       dataset: str | None = None) -> DatasetFiles:
    """Locate ``ROOT/{split}/`` and the annotation/pairs CSVs beside it.

    Accepted names, ``prefix`` in ``market``, ``fasion``, ``fashion``, ``synth``:
    ``{prefix}-annotation-{split}.csv`` or ``{prefix}-resize-annotation-{split}.csv``, and
    ``{prefix}-pairs-{split}.csv`` or ``{prefix}-resize-pairs-{split}.csv`` (the PATN DeepFashion
    download uses the ``-resize-`` names).

    Args:
        root: the dataset root (``ROOT/train``, ``ROOT/test``, CSVs beside them).
        split: ``"train"`` or ``"test"`` (any folder name works).
        dataset: optional ``market`` | ``deepfashion`` | ``synth`` to pick among prefixes when
            several datasets share a root.

    Raises:
        DatasetError: missing root, split folder or annotation CSV; the message lists every path
            that was looked for.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {str(root)!r} does not exist or is not a folder")
    image_dir = root / split
    if dataset is not None and _PREFIX_DATASET.get(dataset, dataset) not in _PREFIX_DATASET.values():
        raise DatasetError(f"unknown dataset {dataset!r}; expected market, deepfashion or synth")
    prefixes = [p for p in DATASET_PREFIXES
                if dataset is None or p == "photos"
                or _PREFIX_DATASET[p] == _PREFIX_DATASET.get(dataset, dataset)]
    found = [p for p in prefixes if _annotation_path(root, p, split) is not None]
    if not found:
        looked = ", ".join([f"{p}-annotation-{split}.csv" for p in prefixes]
                           + [f"{p}-resize-annotation-{split}.csv" for p in prefixes
                              if _PREFIX_DATASET[p] == "deepfashion"])
        raise DatasetError(f"no annotation CSV for split {split!r} in {str(root)!r}; looked for "
                           f"{looked}")
    if len({_PREFIX_DATASET[p] for p in found}) > 1:
        raise DatasetError(f"several datasets in {str(root)!r} ({', '.join(found)}); pass "
                           "dataset= to choose one")
    prefix = found[0]
    if not image_dir.is_dir():
        raise DatasetError(f"image folder {str(image_dir)!r} not found (Market users: rename "
                           f"bounding_box_{split} to {split})")
    pairs = next((c for p in found for c in _pairs_candidates(root, p, split) if c.is_file()),
                 None)
    return DatasetFiles(root=root, split=split, prefix=prefix, dataset=_PREFIX_DATASET[prefix],
                        annotation=_annotation_path(root, prefix, split), pairs=pairs,
                        image_dir=image_dir)


# --------------------------------------------------------------------------------------------
# Pair rules
# --------------------------------------------------------------------------------------------


def build_pairs(names: Sequence[str], rcvs: Sequence[np.ndarray] | Mapping[str, np.ndarray],
                rule: str, dataset: str, max_pairs: int | None = None,
                seed: int = 0) -> list[tuple[str, str]]:
    """Ordered same-identity pairs under one of two rules.

    * ``"dpig"`` (orig §2.6, mode ``same_diff_cam``): every ordered pair of distinct images of the
      same identity, all-missing rows excluded; ``Σ n_id (n_id − 1)`` pairs.
    * ``"defgan"`` (Def-GAN/PATN ``create_pairs_dataset.py``): keep images whose shoulders and
      hips (keypoints 2, 5, 8, 11) are all present and whose name does not start with ``-1`` or
      ``0000``; then ``itertools.permutations(names, 2)`` within each identity.

    Identities are visited in order of first appearance and images in the given order, as
    ``pd.unique`` + ``permutations`` did. With ``max_pairs`` the list is subsampled exactly as
    Def-GAN did for its 12,000 test pairs: ``DataFrame.sample(n=min(max_pairs, N),
    random_state=seed)`` (orig §2.8).

    Args:
        names: image names in file order.
        rcvs: their poses, (N, 18, 3) / sequence aligned with ``names``, or a name → rcv mapping.
        rule: ``"dpig"`` or ``"defgan"``.
        dataset: ``market`` | ``deepfashion`` | ``synth`` (how identities are parsed).
        max_pairs: optional cap (seeded sample); None or 0 keeps every pair.
        seed: ``random_state`` of the sample.
    """
    if rule not in PAIR_RULES:
        raise ValueError(f"unknown pair rule {rule!r}; expected one of {', '.join(PAIR_RULES)}")
    names = list(names)
    if isinstance(rcvs, Mapping):
        poses = [np.asarray(rcvs[n]) for n in names]
    else:
        if len(rcvs) != len(names):
            raise ValueError(f"{len(names)} names but {len(rcvs)} poses")
        poses = [np.asarray(r) for r in rcvs]
    groups: dict[str, list[str]] = {}
    for name, rcv in zip(names, poses):
        if is_all_missing(rcv):
            continue
        if rule == "defgan":
            if name.startswith("-1") or name.startswith("0000"):
                continue
            if not all(rcv[k, 2] > 0 for k in _DEFGAN_REQUIRED):
                continue
        groups.setdefault(identity_of(name, dataset), []).append(name)
    pairs = [p for members in groups.values() for p in itertools.permutations(members, 2)]
    if max_pairs:
        # Def-GAN samples even when N < max_pairs, which shuffles the list: kept for fidelity.
        import pandas as pd  # the sampler itself, so the subset equals Def-GAN's for the same list

        df = pd.DataFrame(pairs, columns=["from", "to"])
        df = df.sample(n=min(max_pairs, len(df)), replace=False, random_state=seed)
        pairs = list(zip(df["from"], df["to"]))
    return pairs
