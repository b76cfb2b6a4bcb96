"""Data loading: images/s and pairs/s delivered by the DataLoader, maps built on the device.

Two datasets are written into a temporary folder at the preset's image size: a SynthPerson
folder (``generate_synthperson``: PNG, ``synth-*`` CSVs) and a **real-format** Market-style folder
made from the same renders (JPEG quality 95, ``PPPP_cCsS_FFFFFF_BB.jpg`` names,
``market-annotation-train.csv`` and ``market-pairs-train.csv``), so the JPEG decoding and the
Market reader are what is timed. For each dataset and ``num_workers`` in {0, 1, 2}:

* ``PersonDataset`` (what Stage-I reads; flips on): images/s;
* ``PairDataset`` (source + target, what evaluation and pose transfer read): pairs/s;

each batch followed by ``prepare_batch`` (move to the device, 18-channel heatmap and pose mask
built there by the batched torch code, orig §2.3-2.4) and a device synchronise. The first batch
(worker start-up) is not timed.

The loader must deliver at least 3× what the training step consumes: the ratio is computed
against the Stage-I images/s of ``benchmarks/results/stage1.json`` for the same preset and
device type when it exists, and against the GPU target (Market: 17 steps/s × 16 = 272 images/s).

    python benchmarks/bench_data.py                   # CPU: market 128×64 and synth-tiny 64×32
    python benchmarks/bench_data.py --device cuda     # maps built on the GPU
    python benchmarks/bench_data.py --quick           # CI smoke
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

import torch

import _common as C
from dpiglib.config import DataConfig, get_preset
from dpiglib.data.datasets import (PairDataset, PersonDataset, make_loader, prepare_batch,
                                   read_annotation_csv)
from dpiglib.data.annotations import build_pairs, write_annotation_csv, write_pairs_csv
from dpiglib.synth.dataset import generate_synthperson

NAME = "data"
REQUIRED_RATIO = 3.0
GPU_TARGET_IMAGES_PER_S = {"market": 17.0 * 16}  # issue target: 17 steps/s at batch 16


def make_datasets(root: Path, size: tuple[int, int], identities: int, per_identity: int,
                  style: str = "market") -> dict[str, Path]:
    """Write a SynthPerson root and a Market-format JPEG copy of its train split under ``root``.

    Returns:
        ``{"synth": synth_root, "market": market_root}``.
    """
    synth = root / "synth"
    generate_synthperson(synth, identities, per_identity, 0, size=size, seed=0, style=style,
                         progress=False)
    market = root / "market"
    (market / "train").mkdir(parents=True, exist_ok=True)
    ann = read_annotation_csv(synth / "synth-annotation-train.csv")
    names, rcvs = [], []
    for name, rcv in ann.items():  # PPPP_cCs1_FFFFFF_00.png → PPPP_cCs1_FFFFFF_00.jpg
        jpg = Path(name).with_suffix(".jpg").name
        with Image.open(synth / "train" / name) as im:
            im.convert("RGB").save(market / "train" / jpg, quality=95)
        names.append(jpg)
        rcvs.append(rcv)
    write_annotation_csv(market / "market-annotation-train.csv", names, rcvs)
    write_pairs_csv(market / "market-pairs-train.csv",
                    build_pairs(names, dict(zip(names, rcvs)), "dpig", "market"))
    return {"synth": synth, "market": market}


def measure(dataset, data_cfg: DataConfig, device: torch.device, batch: int, workers: int,
            batches: int, repeats: int, per_item: int) -> dict[str, Any]:
    """Items/s (median over repeats) of ``batches`` loader batches + ``prepare_batch`` each."""
    loader = make_loader(dataset, batch, shuffle=True, seed=0, num_workers=workers,
                         drop_last=True)
    it = iter(loader)

    def next_batch():
        nonlocal it
        try:
            b = next(it)
        except StopIteration:
            it = iter(loader)
            b = next(it)
        prepare_batch(b, data_cfg, device)

    next_batch()  # worker start-up, first file reads
    t = C.time_steps(next_batch, device, batches, 0, repeats)
    return {"batch": batch, "num_workers": workers, **t,
            "items_per_s": batch / t["s_per_step"],
            "images_per_s": batch * per_item / t["s_per_step"]}


def consumption(device: torch.device, preset: str) -> dict[str, Any] | None:
    """Stage-I images/s for ``preset`` on this device type from ``results/stage1.json``."""
    path = C.RESULTS_DIR / "stage1.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if data.get("environment", {}).get("device", {}).get("device", "cpu")[:4] != device.type[:4]:
        return None
    rows = [r for r in data.get("results", []) if r.get("preset") == preset
            and r.get("status") == "ok"]
    if not rows:
        return None
    best = max(rows, key=lambda r: r["images_per_s"])
    return {"images_per_s": best["images_per_s"], "from": str(path.relative_to(C.REPO_ROOT)),
            "config": {k: best[k] for k in ("batch", "dtype", "channels_last", "compile")}}


def main(argv: list[str] | None = None) -> int:
    ap = C.base_parser(__doc__)
    ap.add_argument("--preset", action="append", choices=("market", "synth-tiny", "deepfashion"),
                    help="image size and radii of this preset (repeatable; default market and "
                         "synth-tiny)")
    ap.add_argument("--workers", default=None, help="comma-separated num_workers (default 0,1,2)")
    ap.add_argument("--batches", type=int, help="timed batches per repeat")
    ap.add_argument("--identities", type=int, help="identities written (8 images each)")
    args = ap.parse_args(argv)
    C.check_positive(ap, batches=args.batches, repeats=args.repeats, identities=args.identities)
    try:
        device = C.setup_device(args)
        workers = [int(w) for w in (args.workers or ("0" if args.quick else "0,1,2")).split(",")]
    except ValueError as exc:
        ap.error(str(exc))
    presets = args.preset or (["synth-tiny"] if args.quick else ["market", "synth-tiny"])
    batches = args.batches or (2 if args.quick else 20)
    repeats = args.repeats or (1 if args.quick else 3)
    identities = args.identities or (4 if args.quick else 40)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dpig-bench-data-") as tmp:
        for preset in presets:
            cfg = get_preset(preset)
            style = "deepfashion" if preset == "deepfashion" else "market"
            t = time.perf_counter()
            roots = make_datasets(Path(tmp) / preset, cfg.data.image_size, identities, 8, style)
            print(f"... {preset}: datasets written in {time.perf_counter() - t:.1f} s", flush=True)
            need = consumption(device, preset)
            batch = cfg.stage1.batch_size
            for kind, root in roots.items():
                data_cfg = replace(cfg.data, dataset=kind, box_style="market", flip=True)
                for cls, per_item in ((PersonDataset, 1), (PairDataset, 2)):
                    ds = cls(root, "train", data_cfg) if cls is PersonDataset else cls(
                        root, "train", data_cfg, flip=True)
                    for w in workers:
                        r = measure(ds, data_cfg, device, batch, w, batches, repeats, per_item)
                        r.update(preset=preset, image_size="x".join(map(str, data_cfg.image_size)),
                                 format=("PNG (SynthPerson)" if kind == "synth"
                                         else "JPEG (Market format)"),
                                 dataset_class=cls.__name__,
                                 unit="images" if per_item == 1 else "pairs", items=len(ds))
                        if cls is PersonDataset:
                            if need:
                                r["step_images_per_s"] = need["images_per_s"]
                                r["ratio_vs_step"] = r["images_per_s"] / need["images_per_s"]
                                r["meets_3x_vs_step"] = r["ratio_vs_step"] >= REQUIRED_RATIO
                            tgt = GPU_TARGET_IMAGES_PER_S.get(preset)
                            if tgt:
                                r["gpu_target_images_per_s"] = tgt
                                r["ratio_vs_gpu_target"] = r["images_per_s"] / tgt
                                r["meets_3x_vs_gpu_target"] = (r["ratio_vs_gpu_target"]
                                                               >= REQUIRED_RATIO)
                        rows.append(r)
    C.print_table(f"DataLoader + prepare_batch on {device} (items/s, median of {repeats} × "
                  f"{batches} batches; ratios need >= {REQUIRED_RATIO:.0f})", rows,
                  ["preset", "format", "dataset_class", "num_workers", "batch", "items_per_s",
                   "unit", "images_per_s", "ratio_vs_step", "ratio_vs_gpu_target"])
    payload = {"benchmark": NAME, "quick": args.quick, "environment": C.environment(device),
               "required_ratio": REQUIRED_RATIO, "results": rows}
    C.write_json(C.output_path(NAME, args), payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
