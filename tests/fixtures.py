"""Writers of tiny datasets in the real on-disk formats (Market-1501, DeepFashion PATN files).

Imported by tests (``from fixtures import ...``); every function writes into a folder it is given
(``tmp_path``) and returns what a test needs to know about it. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dpiglib.data.annotations import write_annotation_csv, write_pairs_csv

# The two released rows quoted in orig §2.8 (docs/original_code.md)
# (myeongjun2/pose-guided-human-image-generation:data/market-annotation-test.csv).
REAL_HEADER = "name:keypoints_y:keypoints_x"
REAL_ROWS = (
    "-1_c5s3_086412_11.jpg: [-1, 38, -1, -1, -1, 38, 49, 63, -1, -1, -1, 66, 89, 114, -1, -1, "
    "-1, -1]: [-1, 0, -1, -1, -1, 8, 14, 14, -1, -1, -1, 10, 17, 27, -1, -1, -1, -1]",
    "0161_c3s3_033053_04.jpg: [14, 24, 25, 44, 61, 24, 42, 56, 61, 86, 112, 60, 86, 101, 12, 11, "
    "10, -1]: [38, 33, 20, 14, 20, 46, 52, 63, 29, 33, 34, 43, 36, 14, 35, 39, 27, -1]",
)
REAL_NAMES = ("-1_c5s3_086412_11.jpg", "0161_c3s3_033053_04.jpg")
REAL_YS = (
    [-1, 38, -1, -1, -1, 38, 49, 63, -1, -1, -1, 66, 89, 114, -1, -1, -1, -1],
    [14, 24, 25, 44, 61, 24, 42, 56, 61, 86, 112, 60, 86, 101, 12, 11, 10, -1],
)
REAL_XS = (
    [-1, 0, -1, -1, -1, 8, 14, 14, -1, -1, -1, 10, 17, 27, -1, -1, -1, -1],
    [38, 33, 20, 14, 20, 46, 52, 63, 29, 33, 34, 43, 36, 14, 35, 39, 27, -1],
)


def rcv_from_lists(ys, xs) -> np.ndarray:
    """(18, 3) rcv from CSV-style lists (-1 = missing), written independently of the library."""
    rcv = np.zeros((18, 3), np.float32)
    for k, (y, x) in enumerate(zip(ys, xs)):
        if y != -1 and x != -1:
            rcv[k] = (y, x, 1)
    return rcv


def random_rcv(rng: np.random.Generator, size: tuple[int, int], p_visible: float = 0.8,
               require: tuple[int, ...] = (2, 5, 8, 11), drop: tuple[int, ...] = ()) -> np.ndarray:
    """A random pose with integer coordinates inside ``size``; ``require`` visible, ``drop`` not."""
    h, w = size
    rcv = np.zeros((18, 3), np.float32)
    for k in range(18):
        if (k in require or rng.random() < p_visible) and k not in drop:
            rcv[k] = (rng.integers(0, h), rng.integers(0, w), 1)
    return rcv


def write_image(path: Path, size: tuple[int, int], rng: np.random.Generator,
                mode: str = "RGB") -> np.ndarray:
    """Noise image of ``size`` (H, W) saved by extension; returns the pixels as decoded."""
    h, w = size
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=95) if path.suffix.lower() in (".jpg", ".jpeg") else img.save(path)
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def write_split(root: Path, prefix: str, split: str, names: list[str], rcvs: list[np.ndarray],
                size: tuple[int, int], pairs: list[tuple[str, str]] | None = None,
                pairs_name: str | None = None, seed: int = 0) -> None:
    """Images + annotation CSV (+ pairs CSV) for one split."""
    rng = np.random.default_rng(seed)
    for n in names:
        write_image(root / split / n, size, rng)
    write_annotation_csv(root / f"{prefix}-annotation-{split}.csv", names, rcvs)
    if pairs is not None:
        write_pairs_csv(root / (pairs_name or f"{prefix}-pairs-{split}.csv"), pairs)


def make_market(root: Path, seed: int = 0) -> dict:
    """A Market-1501-like root at 128×64 (JPEG, PPPP_cCsS_FFFFFF_BB.jpg names).

    train: identities 0002 (3 images), 0007 (2), 0011 (2 + 1 all-missing row), pairs by the dpig
    rule. test: the two real rows (one a ``-1_`` distractor), 0161 ×2 more, a ``0000_`` junk box,
    0228 ×2 (one lacking its left hip, so Def-GAN drops it), and one all-missing row.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    size = (128, 64)
    train = ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0002_c6s1_000526_02.jpg",
             "0007_c1s6_028546_01.jpg", "0007_c2s3_070952_01.jpg",
             "0011_c3s1_000101_01.jpg", "0011_c4s1_000151_03.jpg", "0011_c5s1_000176_04.jpg"]
    train_rcv = [random_rcv(rng, size) for _ in train]
    train_rcv[-1] = np.zeros((18, 3), np.float32)  # all-missing: loaded, counted, not paired
    pairs = [(a, b) for a in train[:-1] for b in train[:-1]
             if a != b and a.split("_")[0] == b.split("_")[0]]
    write_split(root, "market", "train", train, train_rcv, size, pairs, seed=seed)

    test = list(REAL_NAMES) + ["0161_c1s1_000001_01.jpg", "0161_c5s1_000002_02.jpg",
                               "0000_c1s1_000003_00.jpg", "0228_c6s3_006817_02.jpg",
                               "0228_c6s1_052601_01.jpg", "0230_c1s1_000004_01.jpg"]
    test_rcv = [rcv_from_lists(y, x) for y, x in zip(REAL_YS, REAL_XS)]
    test_rcv += [random_rcv(rng, size), random_rcv(rng, size), random_rcv(rng, size),
                 random_rcv(rng, size), random_rcv(rng, size, require=(2, 5, 8), drop=(11,)),
                 np.zeros((18, 3), np.float32)]
    test_pairs = [("0161_c3s3_033053_04.jpg", "0161_c1s1_000001_01.jpg"),
                  ("0228_c6s3_006817_02.jpg", "0228_c6s1_052601_01.jpg")]
    write_split(root, "market", "test", test, test_rcv, size, test_pairs, seed=seed + 1)
    return {"root": root, "size": size, "train": train, "train_rcv": train_rcv,
            "train_pairs": pairs, "test": test, "test_rcv": test_rcv}


DF_NAMES = ["fashionWOMENDressesid0000262902_3back.jpg",
            "fashionWOMENDressesid0000262901_1front.jpg",
            "fashionMENDenimid0000008001_1front.jpg",
            "fashionMENDenimid0000008002_2side.jpg",
            "fashionWOMENBlouses_Shirtsid0000637003_1front.jpg",
            "fashionWOMENBlouses_Shirtsid0000637001_2side.jpg"]
DF_IDS = ["id00002629", "id00002629", "id00000080", "id00000080", "id00006370", "id00006370"]


def make_deepfashion(root: Path, spelling: str = "fasion", size: tuple[int, int] = (256, 176),
                     split: str = "train", seed: int = 0) -> dict:
    """A DeepFashion In-shop root as the PATN family ships it: 256×176 crops, ``id`` names,
    ``{spelling}-annotation-{split}.csv`` and ``{spelling}-resize-pairs-{split}.csv``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    rcvs = [random_rcv(rng, size) for _ in DF_NAMES]
    pairs = [(a, b) for a, ia in zip(DF_NAMES, DF_IDS) for b, ib in zip(DF_NAMES, DF_IDS)
             if a != b and ia == ib]
    write_split(root, spelling, split, DF_NAMES, rcvs, size, pairs,
                pairs_name=f"{spelling}-resize-pairs-{split}.csv", seed=seed)
    return {"root": root, "size": size, "names": DF_NAMES, "rcvs": rcvs, "pairs": pairs}


def write_notebook(path: Path, params: str, cells: list[str], title: str | None = None) -> None:
    """A small notebook for pipeline tests: optional markdown title, a cell tagged
    ``parameters`` holding ``params``, then one code cell per entry of ``cells``."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    head = [new_markdown_cell(title)] if title is not None else []
    nb = new_notebook(cells=head + [new_code_cell(params, metadata={"tags": ["parameters"]})]
                      + [new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))
