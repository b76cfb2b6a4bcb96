"""Sampling latency: the explorer's update path (batch 1) and a batch of 64 (issue 7).

Target: < 150 ms per explorer update on a 2-core CPU with the synth-tiny model. A fresh
synth-tiny model (untrained weights, same architecture and cost as a trained one) is timed unless
``--run-dir`` points at a trained run or ``--pretrained NAME`` names a pretrained model (the
shipped one, or ``NAME.json`` + ``NAME.safetensors`` in ``--pretrained-dir``).

    python benchmarks/bench_sampling.py            # writes benchmarks/results/sampling.json
    python benchmarks/bench_sampling.py --quick    # CI smoke: few repeats, writes nothing unless --out
    python benchmarks/bench_sampling.py --pretrained synth-tiny   # the shipped model: sampling_pretrained.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from dpiglib.config import get_preset
from dpiglib.models.pose_ae import PoseAutoEncoder
from dpiglib.sampling.sampler import Sampler
from dpiglib.models.stage1 import Stage1Model
from dpiglib.models.stage2 import Stage2Model

TARGET_MS = 150.0


def _sampler(run_dir: str | None, device: str, pretrained: str | None = None,
             pretrained_dir: str | None = None) -> Sampler:
    if pretrained:
        from dpiglib.pretrained.store import load_pretrained
        from dpiglib.pretrained.store import read_pretrained

        return (read_pretrained(pretrained_dir, pretrained, device) if pretrained_dir
                else load_pretrained(pretrained, device))
    if run_dir:
        return Sampler.from_run_dir(run_dir, device=device)
    cfg = get_preset("synth-tiny")
    torch.manual_seed(0)
    return Sampler(Stage1Model(cfg.model), PoseAutoEncoder(cfg.model),
                   Stage2Model(cfg.model, noise_std=cfg.stage2.noise_std), cfg, device)


def _time(fn, repeats: int, device: torch.device) -> dict:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(1000 * (time.perf_counter() - t))
    return {"median_ms": statistics.median(out), "min_ms": min(out), "repeats": repeats}


def bench(device: str, repeats: int, run_dir: str | None, pretrained: str | None = None,
          pretrained_dir: str | None = None) -> dict:
    from dpiglib.ui import widgets as Wd

    s = _sampler(run_dir, device, pretrained, pretrained_dir)
    h, w = s.size
    rng = np.random.default_rng(0)
    rcv = np.zeros((18, 3), np.float32)
    rcv[:, 0], rcv[:, 1], rcv[:, 2] = rng.integers(0, h, 18), rng.integers(0, w, 18), 1
    item = {"image": torch.zeros(3, h, w), "rcv": torch.from_numpy(rcv)}
    st = Wd.new_state(s, [item])
    seeds = iter(range(10**6))
    res = {
        "sample_1": _time(lambda: s.sample(1, seed=next(seeds)), repeats, s.device),
        "sample_64": _time(lambda: s.sample(64, seed=next(seeds)), max(2, repeats // 4), s.device),
        "explorer_resample_fg": _time(lambda: Wd.render_png(Wd.resample(st, "fg", next(seeds))),
                                      repeats, s.device),
        "explorer_move_joint": _time(lambda: Wd.render_png(Wd.move_joint(st, 4, next(seeds) % 5, 1)),
                                     repeats, s.device),
    }
    res["sample_64"]["per_image_ms"] = res["sample_64"]["median_ms"] / 64
    res["explorer_meets_target"] = all(res[k]["median_ms"] < TARGET_MS
                                       for k in ("explorer_resample_fg", "explorer_move_joint"))
    model = (f"pretrained {pretrained}" if pretrained else f"run {run_dir}" if run_dir
             else "fresh weights")
    return {"device": str(s.device), "threads": torch.get_num_threads(), "preset": s.cfg.preset,
            "model_width": s.cfg.model.width, "model": model, **res}


def result_path(args: argparse.Namespace) -> str | None:
    """Where the numbers go. Each kind of model has its own file, so timing the shipped model
    never overwrites the fresh-weights numbers; an export folder (``--pretrained-dir``) is a
    candidate, not a result, and a ``--quick`` smoke run writes nothing, unless ``--out`` says."""
    if args.out:
        return args.out
    if args.quick or args.pretrained_dir:
        return None
    name = "sampling_pretrained.json" if args.pretrained else "sampling.json"
    return str(Path(__file__).parent / "results" / name)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repeats; no file unless --out")
    ap.add_argument("--run-dir", default=None, help="time a trained run instead of fresh weights")
    ap.add_argument("--pretrained", default=None, metavar="NAME",
                    help="time a pretrained model (dpiglib.load_pretrained) instead")
    ap.add_argument("--pretrained-dir", default=None, metavar="DIR",
                    help="with --pretrained: read NAME.json + NAME.safetensors from DIR (e.g. "
                         "an export folder) instead of the shipped weights")
    ap.add_argument("--out", default=None,
                    help="JSON path (default benchmarks/results/sampling.json; with --pretrained, "
                         "sampling_pretrained.json; with --pretrained-dir, no file)")
    args = ap.parse_args(argv)
    if args.pretrained and args.run_dir:
        ap.error("give --run-dir or --pretrained, not both")
    if args.pretrained_dir and not args.pretrained:
        ap.error("--pretrained-dir needs --pretrained NAME")
    repeats = 3 if args.quick else 20
    which = (args.run_dir, args.pretrained, args.pretrained_dir)
    try:
        results = {"target_ms": TARGET_MS, "python": platform.python_version(),
                   "torch": torch.__version__, "machine": platform.machine(),
                   "cpu": bench("cpu", repeats, *which)}
        if torch.cuda.is_available():
            results["cuda"] = bench("cuda", repeats, *which)
    except Exception as exc:
        from dpiglib.pretrained.registry import PretrainedError

        if not isinstance(exc, PretrainedError):
            raise
        raise SystemExit(f"bench_sampling: error: {exc}") from None
    for dev in ("cpu", "cuda"):
        if dev in results:
            r = results[dev]
            print(f"{dev}: 1 image {r['sample_1']['median_ms']:.1f} ms | 64 images "
                  f"{r['sample_64']['median_ms']:.1f} ms ({r['sample_64']['per_image_ms']:.2f} ms/img)"
                  f" | explorer resample {r['explorer_resample_fg']['median_ms']:.1f} ms, move joint "
                  f"{r['explorer_move_joint']['median_ms']:.1f} ms (target < {TARGET_MS:.0f} ms)")
    out = result_path(args)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=2) + "\n")
        print("wrote", out)
    return results


if __name__ == "__main__":
    main()
