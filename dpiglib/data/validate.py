"""Check a prepared dataset root before training: every problem at once, as a report.

The readers of :mod:`dpiglib.data.datasets` stop at the first bad row; :func:`validate_dataset` instead
collects everything a user must fix (missing files, unreadable or wrongly sized images, malformed
rows, duplicate names, out-of-image keypoints, pairs pointing nowhere or at all-missing rows) and
counts what is legal but worth knowing (all-missing rows, images without a row, converted
colour modes). ``python -m data_prep.validate ROOT`` prints the report (docs/data.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from dpiglib.data.annotations import (DatasetError, _read_pairs_with_lines, annotation_lines,
                                      find_dataset_files, identity_of, is_all_missing,
                                      parse_annotation_line)
from dpiglib.config import DataConfig

__all__ = ["Issue", "ValidationReport", "validate_dataset"]


@dataclass(frozen=True)
class Issue:
    """One finding: ``kind`` is a short tag (``missing_image``, ``malformed_row`` ...)."""

    split: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"[{self.split}] {self.kind}: {self.message}"


@dataclass
class ValidationReport:
    """Result of :func:`validate_dataset`: ``ok`` iff there are no errors."""

    root: Path
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # split → counts

    @property
    def ok(self) -> bool:
        return not self.errors

    def kinds(self) -> set[str]:
        """The tags of all errors (handy in tests and notebooks)."""
        return {e.kind for e in self.errors}

    def to_frame(self):
        """pandas DataFrame with columns level, split, kind, message."""
        import pandas as pd

        rows = [("error", i.split, i.kind, i.message) for i in self.errors]
        rows += [("warning", i.split, i.kind, i.message) for i in self.warnings]
        return pd.DataFrame(rows, columns=["level", "split", "kind", "message"])

    def format(self, max_per_kind: int = 10) -> str:
        """Human-readable report; at most ``max_per_kind`` lines per (level, kind)."""
        lines = [f"dataset root: {self.root}"]
        for split, st in self.stats.items():
            lines.append(f"  {split}: " + ", ".join(f"{k}={v}" for k, v in st.items()))
        for level, items in (("ERROR", self.errors), ("warning", self.warnings)):
            shown: dict[str, int] = {}
            for i in items:
                shown[i.kind] = shown.get(i.kind, 0) + 1
                if shown[i.kind] <= max_per_kind:
                    lines.append(f"{level} {i}")
            for kind, n in shown.items():
                if n > max_per_kind:
                    lines.append(f"{level} ... and {n - max_per_kind} more {kind}")
        lines.append(f"{len(self.errors)} error(s), {len(self.warnings)} warning(s): "
                     + ("OK" if self.ok else "FAILED"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _size_ok(actual: tuple[int, int], cfg: DataConfig | None,
             expected: tuple[int, int]) -> tuple[bool, str | None]:
    """(acceptable, note): DeepFashion crops narrower than the target are fine with 'pad'."""
    if actual == expected:
        return True, None
    if cfg is not None and cfg.dataset == "deepfashion":
        if cfg.deepfashion_fit == "resize":
            return True, "resized"
        if actual[0] == expected[0] and actual[1] <= expected[1]:
            return True, "padded"
    return False, None


def validate_dataset(root: str | os.PathLike, data_cfg_or_size: DataConfig | tuple[int, int],
                     splits: tuple[str, ...] = ("train", "test"),
                     check_images: bool = True) -> ValidationReport:
    """Validate ``root`` (layout of docs/data.md) and return every problem found.

    Args:
        root: dataset root.
        data_cfg_or_size: a :class:`DataConfig` (dataset, image size, DeepFashion fit) or an
            expected (H, W); with a bare size the dataset kind is taken from the file prefix and
            images must match it exactly.
        splits: splits to check; a split whose folder and CSV are both absent is an error.
        check_images: open and fully decode every annotated image (size and readability).

    Returns:
        :class:`ValidationReport`; ``errors`` empty means the data loaders will accept the root.
    """
    root = Path(root)
    report = ValidationReport(root=root)
    cfg = data_cfg_or_size if isinstance(data_cfg_or_size, DataConfig) else None
    expected = tuple(cfg.image_size if cfg else data_cfg_or_size)
    if not root.is_dir():
        report.errors.append(Issue("-", "missing_root", f"{root} does not exist"))
        return report
    for split in splits:
        _validate_split(report, root, split, cfg, expected, check_images)
    return report


def _validate_split(report: ValidationReport, root: Path, split: str, cfg: DataConfig | None,
                    expected: tuple[int, int], check_images: bool) -> None:
    err = lambda kind, msg: report.errors.append(Issue(split, kind, msg))  # noqa: E731
    warn = lambda kind, msg: report.warnings.append(Issue(split, kind, msg))  # noqa: E731
    try:
        files = find_dataset_files(root, split, cfg.dataset if cfg else None)
    except DatasetError as e:
        err("missing_file", str(e))
        return
    stats: dict[str, Any] = {"prefix": files.prefix}
    report.stats[split] = stats

    # 1. annotation rows, all of them, each error with its line
    rows: dict[str, tuple[int, Any]] = {}
    try:
        for lineno, text in annotation_lines(files.annotation):
            try:
                name, rcv = parse_annotation_line(text, files.annotation, lineno)
            except DatasetError as e:
                err("malformed_row", str(e))
                continue
            if name in rows:
                err("duplicate_name", f"{files.annotation}, line {lineno}: {name!r} already on "
                                      f"line {rows[name][0]}")
                continue
            rows[name] = (lineno, rcv)
    except DatasetError as e:  # header or file problem: nothing else in this file can be read
        err("malformed_file", str(e))
        return
    all_missing = {n for n, (_, r) in rows.items() if is_all_missing(r)}
    stats.update(annotated=len(rows), all_missing=len(all_missing))
    if all_missing:
        warn("all_missing_rows", f"{len(all_missing)} row(s) with no visible keypoint (loaded, "
                                 f"never paired), e.g. {sorted(all_missing)[0]}")
    ids: set[str] = set()
    for name in rows:
        try:
            ids.add(identity_of(name, files.dataset))
        except ValueError as e:
            err("bad_name", f"{files.annotation}, line {rows[name][0]}: {e}")
    stats["identities"] = len(ids)

    # 2. images: present, readable, right size; keypoints inside the image as stored
    present = {n for n in os.listdir(files.image_dir) if not n.startswith(".")}
    stats["images_in_folder"] = len(present)
    unannotated = present - set(rows)
    if unannotated:
        warn("unannotated_images", f"{len(unannotated)} file(s) in {files.image_dir} without an "
                                   f"annotation row (ignored), e.g. {sorted(unannotated)[0]}")
    converted = resized = 0
    for name, (lineno, rcv) in rows.items():
        path = files.image_dir / name
        if name not in present:
            err("missing_image", f"{path} (annotated on line {lineno}) does not exist")
            continue
        size = expected
        if check_images:
            try:
                with Image.open(path) as im:
                    im.load()
                    size = (im.size[1], im.size[0])
                    converted += im.mode != "RGB"
            except (OSError, SyntaxError, ValueError) as e:
                err("unreadable_image", f"{path}: {type(e).__name__}: {e}")
                continue
            ok, note = _size_ok(size, cfg, expected)
            if not ok:
                err("wrong_size", f"{path} is {size[0]}x{size[1]} (HxW), expected "
                                  f"{expected[0]}x{expected[1]}")
                continue
            resized += note is not None
        vis = rcv[:, 2] > 0
        if (rcv[vis, 0] > size[0] - 1).any() or (rcv[vis, 1] > size[1] - 1).any():
            err("out_of_bounds", f"{files.annotation}, line {lineno}: a keypoint of {name!r} "
                                 f"lies outside its {size[0]}x{size[1]} image")
    if converted:
        warn("converted_mode", f"{converted} image(s) not RGB (converted to RGB on load)")
    if resized:
        warn("fitted_size", f"{resized} image(s) will be fitted to {expected[0]}x{expected[1]} "
                            f"({cfg.deepfashion_fit if cfg else ''})")

    # 3. pairs
    if files.pairs is None:
        warn("missing_pairs", f"no pairs CSV for {split!r} (PairDataset and evaluation need one; "
                              "python -m data_prep.make_pairs builds it)")
        stats["pairs"] = 0
        return
    try:
        pairs = _read_pairs_with_lines(files.pairs)
    except DatasetError as e:
        err("malformed_pairs", str(e))
        return
    stats["pairs"] = len(pairs)
    seen: set[tuple[str, str]] = set()
    dup = selfp = 0
    for lineno, a, b in pairs:
        for n in (a, b):
            if n not in rows:
                err("pair_unknown_name", f"{files.pairs}, line {lineno}: {n!r} has no "
                                         "annotation row")
            elif n in all_missing:
                err("pair_all_missing", f"{files.pairs}, line {lineno}: {n!r} has no visible "
                                        "keypoint")
        dup += (a, b) in seen
        selfp += a == b
        seen.add((a, b))
    if dup:
        warn("duplicate_pairs", f"{dup} repeated pair(s) in {files.pairs.name}")
    if selfp:
        warn("self_pairs", f"{selfp} pair(s) of an image with itself in {files.pairs.name}")
