"""Loading generated and target images by name from a pairs CSV (orig §6.8 items 3, 4, 9; orig B6, orig B17).

The original paired ``G/`` and ``x_target/`` by unsorted ``glob`` order (orig §6.1), PATN parsed
composite strips. Here a pair ``(from, to)`` of the released pairs CSV names its generated file
through ``name_fn(from, to)`` (default ``"<from stem>___<to stem>.png"``, PATN's separator; with
the default, the peers' ``"<from>___<to>.png"``, e.g. ``a.jpg___b.jpg.png``, is accepted for the same
pair) and its target image as ``to`` in ``target_dir``. Each pair is scored once, in CSV order; duplicate rows are
dropped and counted (orig B17). A missing or unreadable file is an error naming the file and the pair.
A target whose size differs from the generated image is resized with PIL bicubic (antialiased)
and counted, or refused with ``resize="error"``; file formats are recorded.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = ["MissingImageError", "UnreadableImageError", "default_name_fn", "peer_name_fn",
           "GENERATED_NAME_PATTERN", "load_pairs", "read_image", "EvalImages", "load_pair_images"]

#: The generated-file names ``dpig evaluate --generated`` accepts (in help and error messages).
GENERATED_NAME_PATTERN = ("FROM___TO.png or FROM.jpg___TO.jpg.png (FROM, TO: the pairs list's "
                          "image names, without or with their extension)")


class MissingImageError(FileNotFoundError):
    """A generated or target image named by the pairs list does not exist."""


class UnreadableImageError(ValueError):
    """An image file exists but cannot be decoded."""


def default_name_fn(source: str, target: str) -> str:
    """Generated-image file name of a pair: ``"<source stem>___<target stem>.png"``."""
    return f"{Path(source).stem}___{Path(target).stem}.png"


def peer_name_fn(source: str, target: str) -> str:
    """The peers' name of a pair's output, full names kept: ``"a.jpg___b.jpg.png"``."""
    return f"{Path(source).name}___{Path(target).name}.png"


def load_pairs(pairs: str | os.PathLike | Iterable[Sequence[str]]) -> tuple[list[tuple[str, str]], int]:
    """Pairs from a ``from,to`` CSV path or a sequence of 2-tuples, each pair once.

    Returns:
        ``(pairs in first-seen order, number of duplicate rows dropped)``.
    """
    if isinstance(pairs, (str, os.PathLike)):
        from dpiglib.data.annotations import read_pairs_csv  # validates header and rows, names lines

        rows = read_pairs_csv(pairs)
    else:
        rows = []
        for i, p in enumerate(pairs):
            if len(p) != 2:
                raise ValueError(f"pair {i}: expected (from, to), got {p!r}")
            rows.append((str(p[0]), str(p[1])))
    seen: dict[tuple[str, str], None] = {}
    for r in rows:
        seen.setdefault(r, None)
    if not seen:
        raise ValueError("the pairs list is empty")
    return list(seen), len(rows) - len(seen)


def read_image(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """Read an image file as uint8 (H, W, 3) RGB; clear errors naming the file."""
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise MissingImageError(f"{what} not found: {p}")
    try:
        with Image.open(p) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except Exception as exc:  # PIL raises several types for truncated/corrupt files
        raise UnreadableImageError(f"{what} cannot be read: {p} ({type(exc).__name__}: {exc})") from exc


def _resize_bicubic(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.BICUBIC))


@dataclass
class EvalImages:
    """Images of one evaluation, matched by name.

    Attributes:
        keys: generated file names, one per pair, in pairs order.
        pairs: ``key → (from, to)``.
        generated, targets: ``key → uint8 (H, W, 3)``.
        unique_targets: the distinct target images (FID's real set when none is given).
        info: counts, duplicates dropped, resize kernel and count, file formats.
    """

    keys: list[str]
    pairs: dict[str, tuple[str, str]]
    generated: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    unique_targets: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def load_pair_images(generated_dir: str | os.PathLike, target_dir: str | os.PathLike,
                     pairs: str | os.PathLike | Iterable[Sequence[str]],
                     name_fn: Callable[[str, str], str] = default_name_fn,
                     resize: str = "bicubic") -> EvalImages:
    """Load every pair's generated and target image, matched by name (never by listing order).

    Args:
        generated_dir: folder of generated images named ``name_fn(from, to)``.
        target_dir: folder of real images named as in the pairs CSV's ``to`` column.
        pairs: pairs CSV path or sequence of ``(from, to)``.
        name_fn: generated file name of a pair (the pair's key). With the default,
            :func:`peer_name_fn`'s name is read when the default name is absent; the key stays
            the default name and ``info["generated_names"]`` counts which naming was found.
        resize: ``"bicubic"`` (PIL, antialiased) resizes a target to its generated image's size;
            ``"error"`` refuses size mismatches.

    Raises:
        MissingImageError / UnreadableImageError: naming the file and its pair.
        ValueError: two pairs map to one generated name, or a size mismatch with ``resize="error"``.
    """
    if resize not in ("bicubic", "error"):
        raise ValueError(f"resize must be 'bicubic' or 'error', got {resize!r}")
    pair_list, dropped = load_pairs(pairs)
    gdir, tdir = Path(generated_dir), Path(target_dir)
    keys, key_pair, gen, tgt, uniq = [], {}, {}, {}, {}
    formats: dict[str, Counter] = {"generated": Counter(), "target": Counter()}
    resized = 0
    naming: Counter = Counter()
    for i, (src, dst) in enumerate(pair_list):
        key = name_fn(src, dst)
        if key in key_pair:
            raise ValueError(f"pairs {key_pair[key]} and {(src, dst)} both map to generated file "
                             f"{key!r}: name_fn must be one-to-one")
        names = [key]
        if name_fn is default_name_fn and peer_name_fn(src, dst) != key:
            names.append(peer_name_fn(src, dst))
        found = next((n for n in names if (gdir / n).is_file()), None)
        if found is None:
            raise MissingImageError(
                f"generated image of pair {i} ({src} -> {dst}) not found: no "
                f"{' or '.join(names)} in {gdir}"
                + ("" if name_fn is not default_name_fn else
                   f"; name each output {GENERATED_NAME_PATTERN}"))
        naming[found == key] += 1
        g = read_image(gdir / found, f"generated image of pair {i} ({src} -> {dst})")
        if dst not in uniq:
            uniq[dst] = read_image(tdir / dst, f"target image of pair {i} ({src} -> {dst})")
            formats["target"][Path(dst).suffix.lower()] += 1
        t = uniq[dst]
        if t.shape != g.shape:
            if resize == "error":
                raise ValueError(f"pair {i} ({src} -> {dst}): target {t.shape[:2]} and generated "
                                 f"{g.shape[:2]} differ in size (resize='error')")
            t = _resize_bicubic(t, g.shape[:2])
            resized += 1
        formats["generated"][Path(key).suffix.lower()] += 1
        keys.append(key)
        key_pair[key], gen[key], tgt[key] = (src, dst), g, t
    info = {"pairs": len(keys), "duplicate_pairs_dropped": dropped,
            "target_images": len(uniq), "targets_resized": resized,
            "resize_kernel": "PIL bicubic (antialiased)" if resize == "bicubic" else "none (error)",
            "file_formats": {k: dict(v) for k, v in formats.items()}, "pairing": "by name from the pairs list",
            "generated_names": {"FROM___TO.png" if name_fn is default_name_fn else "name_fn": naming[True],
                                "FROM.jpg___TO.jpg.png": naming[False]}}
    return EvalImages(keys, key_pair, gen, tgt, uniq, info)
