"""Stage-I training step: images/s, peak memory, FLOPs per image and (on GPU) MFU.

The step is the trainer's own: :func:`dpiglib.training.stage1.stage1_step` (its two halves
:func:`~dpiglib.training.stage1.generator_step` and :func:`~dpiglib.training.stage1.discriminator_step`), on the
same :class:`~dpiglib.models.stage1.Stage1Model`, the same G side (``stage1.Reconstructor``: encoder +
generator), the same Adam + StepLR optimisers (``stage1._adam_and_schedule``), the same AMP
settings (``runtime.amp_settings``) and the same ``torch.compile`` wrapping (G side, D, and D
again for the G step). One G update then one D update on one batch (orig B11 decision).
Data loading is *not* in the step (see ``bench_data.py``): a fixed batch of SynthPerson renders
at the preset's size is prepared on the device once.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one step (matmul, conv
and their backward; elementwise ops, ``grid_sample`` and normalisation are not counted), split
into the G update (G forward, D forward on the fake, backward to G's weights through D's
inputs) and the D update (D on real and fake, backward to D's weights). MFU on CUDA = counted
FLOP/s ÷ the device's measured bf16 matmul rate (a large matmul timed first).

    python benchmarks/bench_stage1.py                 # CPU: synth-tiny matrix + Market b16
    python benchmarks/bench_stage1.py --device cuda   # GPU: Market b16 + DF b6 matrices + max batch
    python benchmarks/bench_stage1.py --preset market --batch 16 --dtype bf16 --channels-last \\
        --compile --steps 2000 --warmup 50 --repeats 1 --device cuda   # sustained-rate check
    python benchmarks/bench_stage1.py --quick         # CI smoke (seconds)
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import _common as C
from dpiglib.config import RunConfig, get_preset
from dpiglib.data.datasets import prepare_batch
from dpiglib.data.pose import part_boxes
from dpiglib.core.runtime import amp_settings, configure_backends, seed_everything
from dpiglib.models.stage1 import Reconstructor, Stage1Model
from dpiglib.training.graphs import StaticStep
from dpiglib.training.stage1 import (Stage1Nets, Update, _adam_and_schedule, discriminator_step,
                                     generator_step, stage1_step)
from dpiglib.synth.renderer import SynthPersonRenderer

NAME = "stage1"
RESULT_TAG = "RESULT_JSON: "
TARGETS = {"market": {"steps_per_s": 17.0}}  # GPU target of the issue (sustained, ≥ 2,000 steps)
TARGETS_FAST = {"market": 34.0}  # the CUDA-graph fast path's target, Market batch 16 (steps/s)


# --------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------


def synthetic_batch(cfg: RunConfig, batch: int, device: torch.device, seed: int = 0
                    ) -> dict[str, Any]:
    """``batch`` SynthPerson renders at the preset's size, collated and ``prepare_batch``-ed.

    Returns:
        the trainer's batch dict: image (B, 3, H, W) in [-1, 1], rcv, boxes, box_vis, heatmap
        (B, 18, H, W), mask (B, 1, H, W), all on ``device``.
    """
    size = cfg.data.image_size
    style = "deepfashion" if cfg.data.box_style == "deepfashion" else "market"
    renderer = SynthPersonRenderer(size, style)
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(batch):
        r = renderer.render(*renderer.sample(rng))
        boxes, vis = part_boxes(r.rcv, size, cfg.data.box_style)
        img = torch.from_numpy(r.image.copy()).permute(2, 0, 1).float().sub_(127.5).div_(127.5)
        items.append({"image": img, "rcv": torch.from_numpy(r.rcv),
                      "boxes": torch.as_tensor(np.asarray(boxes), dtype=torch.int64),
                      "box_vis": torch.as_tensor(np.asarray(vis), dtype=torch.float32)})
    prep_dev = torch.device("cpu") if device.type == "meta" else device
    b = prepare_batch(torch.utils.data.default_collate(items), cfg.data, prep_dev)
    # meta: shapes only, for counting FLOPs of batches too large to run here
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()}


class TrainStep:
    """One Stage-I iteration for ``it > 0``: :func:`dpiglib.training.stage1.stage1_step` on a fixed batch.

    Args:
        cfg: run config (model, stage1 lr/betas/λ_L1, data radii).
        batch: images per step.
        device: where to run.
        dtype: ``"fp32"`` or ``"bf16"`` (autocast, CPU included).
        channels_last: model and inputs in channels-last (the trainer applies it on CUDA and
            CPU; here it is honoured on every device, so both choices can be measured).
        compile: ``torch.compile`` the G side and D as the trainer does (it compiles only on
            CUDA; here on every device).
        graphs: the trainer's ``stage1_compile="graphs"`` fast path
            (:class:`dpiglib.training.graphs.StaticStep`): captured on CUDA, uncaptured on the
            static buffers elsewhere.
    """

    def __init__(self, cfg: RunConfig, batch: int, device: torch.device, dtype: str = "fp32",
                 channels_last: bool = False, compile: bool = False, graphs: bool = False):
        self.cfg, self.device, self.s1 = cfg, device, cfg.stage1
        seed_everything(cfg.seed)
        configure_backends(device)
        self.model = Stage1Model(cfg.model).to(device)
        self.amp = amp_settings(device, "bf16" if dtype == "bf16" else "off")
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.rec = Reconstructor(self.model)
        self.opt_g, self.sched_g = _adam_and_schedule(self.rec.parameters(), self.s1.lr, self.s1)
        self.opt_d, self.sched_d = _adam_and_schedule(self.model.discriminator.parameters(),
                                                      self.s1.lr, self.s1)
        d = self.model.discriminator
        self.nets = Stage1Nets(self.rec, d, d, cfg.model.disc_batching)
        if compile:
            self.nets = Stage1Nets(torch.compile(self.rec), torch.compile(d), torch.compile(d),
                                   cfg.model.disc_batching)
        step_amp = replace(self.amp, cache=False) if graphs else self.amp
        self.update_g = Update(self.nets.reconstruct, self.opt_g, self.amp.grad_scaler(), step_amp)
        self.update_d = Update(self.nets.critic, self.opt_d, self.amp.grad_scaler(), step_amp)
        self.graphed = StaticStep(
            lambda bs: stage1_step(self.nets, bs, self.update_g, self.update_d,
                                   self.s1.lambda_l1),
            [self.opt_g, self.opt_d], capture=device.type == "cuda") if graphs else None
        self.b = synthetic_batch(cfg, batch, device, cfg.seed)
        if channels_last:
            for k in ("image", "heatmap", "mask"):
                self.b[k] = self.b[k].contiguous(memory_format=torch.channels_last)
        self.acc = torch.zeros(5, device=device)  # the trainer's on-device loss sums

    def generate(self, net) -> torch.Tensor:
        b = self.b
        return net(b["image"], b["boxes"], b["box_vis"], b["heatmap"], b["mask"])

    def g_update(self) -> list[torch.Tensor]:
        """The G half of the step (for FLOP counting); returns the fakes the D half scores."""
        fakes, g = generator_step(self.nets, [self.b], self.update_g, self.s1.lambda_l1)
        self.acc[1:] += g
        return fakes

    def d_update(self, fakes: list[torch.Tensor]) -> None:
        """The D half of the step on the batch's real images and ``fakes``."""
        self.acc[0] += discriminator_step(self.nets, [self.b], fakes, self.update_d)

    def __call__(self) -> torch.Tensor:
        """One iteration; returns its five losses (d, g_adv, g_l1, g_total, masked L1), on the
        device and not synchronised."""
        if self.graphed is not None:
            out = self.graphed([self.b])
        else:
            out = stage1_step(self.nets, [self.b], self.update_g, self.update_d,
                              self.s1.lambda_l1)
        losses = torch.cat([out["d_loss"][None], out["g"]])
        self.acc += losses
        self.sched_g.step()
        self.sched_d.step()
        return losses


def compare_fast_path(preset: str, batch: int, device: torch.device, dtype: str,
                      channels_last: bool, steps: int, warmup: int) -> dict[str, Any]:
    """The eager step against the ``"graphs"`` fast path, in one run on one device.

    Both start from the same weights (the preset's seed) on the same fixed batch; each runs
    ``warmup`` untimed then ``steps`` timed iterations. Returns steps/s of each, their ratio,
    and the largest |Δ| between the two runs' losses over all ``warmup + steps`` iterations.

    The eager step also runs a second time, untimed. Hundreds of GAN steps amplify any
    rounding difference (cuDNN's algorithm choice alone is not bit-reproducible on a GPU), so
    eager-against-eager is the yardstick for the graph's |Δ|: a fast path whose |Δ| is of the
    same size as that drift computes the same step. On a CPU both deltas are exactly 0.
    """
    cfg = get_preset(preset, stage1_batch_size=batch)
    out: dict[str, Any] = {"preset": preset, "batch": batch, "dtype": dtype,
                           "channels_last": channels_last, "steps": steps, "warmup": warmup,
                           "captured": device.type == "cuda"}
    losses = {}
    for name in ("eager", "eager_repeat", "graphs"):
        step = TrainStep(cfg, batch, device, dtype, channels_last, graphs=name == "graphs")
        seen = [step() for _ in range(warmup)]
        C.synchronize(device)
        t = time.perf_counter()
        seen += [step() for _ in range(steps)]
        C.synchronize(device)
        dt = (time.perf_counter() - t) / steps
        losses[name] = torch.stack(seen).float().cpu()
        if name != "eager_repeat":  # the repeat is a yardstick for the deltas, not a variant
            out[name] = {"s_per_step": dt, "steps_per_s": 1.0 / dt, "images_per_s": batch / dt}
        if name == "graphs":
            out["graph_captures"] = step.graphed.captures
        del step
    delta = (losses["eager"] - losses["graphs"]).abs()
    out["speedup"] = out["graphs"]["steps_per_s"] / out["eager"]["steps_per_s"]
    out["max_abs_delta_loss"] = float(delta.max())
    out["loss_columns"] = ["d_loss", "g_adv", "g_l1", "g_total", "masked_l1"]
    out["max_abs_delta_loss_per_column"] = delta.amax(0).tolist()
    out["first_step_abs_delta_loss_per_column"] = delta[0].tolist()
    drift = (losses["eager"] - losses["eager_repeat"]).abs()
    out["eager_repeat_max_abs_delta_loss"] = float(drift.max())
    out["eager_repeat_max_abs_delta_loss_per_column"] = drift.amax(0).tolist()
    return out


def count_flops(cfg: RunConfig, batch: int) -> dict[str, Any]:
    """FLOPs of one training step (G update, D update) and of one reconstruction forward, per
    step and per image.

    Counted with ``FlopCounterMode`` on the ``meta`` device: the step runs on shapes only, so
    the paper-size configurations are counted exactly on any machine in seconds (the count is
    the same as on a real device; ``tests/test_benchmarks.py`` checks that on synth-tiny).
    """
    from torch.utils.flop_counter import FlopCounterMode

    step = TrainStep(cfg, batch, torch.device("meta"))
    with FlopCounterMode(display=False) as fc:
        fake = step.g_update()
    g = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        step.d_update(fake)
    d = fc.get_total_flops()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        step.generate(step.rec)
    fwd = fc.get_total_flops()
    params = {k: sum(p.numel() for p in getattr(step.model, k).parameters())
              for k in ("encoder", "generator", "discriminator")}
    return {"preset": cfg.preset, "batch": batch,
            "image_size": "x".join(map(str, cfg.data.image_size)),
            "train_step_flops": float(g + d), "g_update_flops": float(g),
            "d_update_flops": float(d), "train_flops_per_image": (g + d) / batch,
            "reconstruct_forward_flops_per_image": fwd / batch, "parameters": params}


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int | None = None,
                repeats: int = 5) -> float:
    """Measured dense matmul rate (FLOP/s, best of ``repeats``) of an n×n @ n×n product."""
    n = n or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    iters = 20 if device.type == "cuda" else 3
    a @ b
    C.synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            a @ b
        C.synchronize(device)
        best = min(best, (time.perf_counter() - t) / iters)
    return 2.0 * n ** 3 / best


# --------------------------------------------------------------------------------------------
# One configuration (possibly in a child process)
# --------------------------------------------------------------------------------------------


def run_config(spec: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Build, time and measure one configuration; returns its result row.

    ``spec`` keys: preset, batch, dtype, channels_last, compile, steps, warmup, repeats.
    """
    cfg = get_preset(spec["preset"], stage1_batch_size=spec["batch"])
    row: dict[str, Any] = {k: spec[k] for k in ("preset", "batch", "dtype", "channels_last",
                                                 "compile")}
    row["image_size"] = "x".join(map(str, cfg.data.image_size))
    try:
        step = TrainStep(cfg, spec["batch"], device, spec["dtype"], spec["channels_last"],
                         spec["compile"])
        with C.PeakMemory(device) as pm:
            t = time.perf_counter()
            step()  # first call: compilation, allocator warm-up, optimiser state
            C.synchronize(device)
            row["first_step_s"] = time.perf_counter() - t
            row.update(C.time_steps(step, device, spec["steps"], max(spec["warmup"] - 1, 0),
                                    spec["repeats"]))
        row.update(pm.result())
    except torch.OutOfMemoryError as exc:  # only CUDA raises this; the max-batch search uses it
        return {**row, "status": "oom", "error": str(exc).splitlines()[0]}
    row["steps_per_s"] = 1.0 / row["s_per_step"]
    row["images_per_s"] = spec["batch"] / row["s_per_step"]
    row["status"] = "ok"
    if spec.get("profile"):
        row["top_ops"] = profile_step(step, device, spec["profile"])
    return row


def profile_step(step: TrainStep, device: torch.device, steps: int, top: int = 15
                 ) -> list[dict[str, Any]]:
    """The ``top`` kernels/ops by self device time (CUDA) or self CPU time over ``steps`` steps,
    from ``torch.profiler``: what limits the step."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            step()
        C.synchronize(device)
    events = prof.key_averages()
    def dev_time(e):  # the attribute was renamed (cuda → device) across torch 2.x
        return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)
    key = dev_time if device.type == "cuda" else (lambda e: e.self_cpu_time_total)
    total = sum(key(e) for e in events) or 1
    out = []
    for e in sorted(events, key=key, reverse=True)[:top]:
        out.append({"name": e.key, "calls": e.count, "self_time_ms_per_step": key(e) / 1e3 / steps,
                    "share": key(e) / total})
    return out


def _child(spec: dict[str, Any], args, timeout: float) -> dict[str, Any]:
    """Run one configuration in a fresh interpreter (clean peak-RSS, no allocator carry-over)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--single", json.dumps(spec),
           "--device", args.device]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    base = {k: spec[k] for k in ("preset", "batch", "dtype", "channels_last", "compile")}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**base, "status": f"skipped: did not finish within {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {**base, "status": f"failed: {err[:300]}"}


def _label(s: dict[str, Any]) -> str:
    return (f"{s['preset']} b{s['batch']} {s['dtype']} cl={int(s['channels_last'])} "
            f"compile={int(s['compile'])}")


def _interleaved(specs: list[dict[str, Any]], args, device: torch.device
                 ) -> list[dict[str, Any]]:
    """Run the configurations round-robin, one fresh process per (round, configuration).

    On a shared machine the load drifts over minutes; interleaving puts every configuration
    under the same drift, so variants compare fairly. Each round times ``steps`` steps after
    ``warmup``; the reported ``s_per_step`` is the median over rounds (``repeats`` of them).
    A configuration that fails or times out is not retried in later rounds.
    """
    rounds = max(s["repeats"] for s in specs)
    merged: list[dict[str, Any] | None] = [None] * len(specs)
    for rnd in range(rounds):
        for i, s in enumerate(specs):
            if rnd >= s["repeats"] or (merged[i] and merged[i].get("status") != "ok"):
                continue
            print(f"... round {rnd + 1}/{rounds}: {_label(s)}", flush=True)
            timeout = args.compile_timeout if (s["compile"] and device.type == "cpu") \
                else args.config_timeout
            r = _child({**s, "repeats": 1}, args, timeout)
            if merged[i] is None or r.get("status") != "ok":
                merged[i] = {**r, "s_per_step_repeats": [], "peak_memory_mib": 0.0,
                             "load_avg_1min": []}
            m = merged[i]
            if r.get("status") == "ok":
                m["s_per_step_repeats"].append(r["s_per_step"])
                m["peak_memory_mib"] = max(m["peak_memory_mib"], r["peak_memory_mib"])
                m["load_avg_1min"].append(os.getloadavg()[0] if hasattr(os, "getloadavg")
                                          else None)
    for m, s in zip(merged, specs):
        if m.get("status") == "ok":
            m["repeats"] = len(m["s_per_step_repeats"])
            m["s_per_step"] = statistics.median(m["s_per_step_repeats"])
            m["steps_per_s"] = 1.0 / m["s_per_step"]
            m["images_per_s"] = s["batch"] / m["s_per_step"]
            m["interleaved_rounds"] = True
    return merged


def predict_max_batch(points: list[tuple[int, float]], memory_mib: float,
                      headroom: float = 0.97) -> int | None:
    """Batch at which a straight line through the two largest fitting (batch, peak MiB) points
    reaches ``headroom`` × the device memory; None until two points with growing memory exist.

    Activation memory grows linearly with the batch above a few images (weights, optimiser
    state and cuDNN workspaces are the intercept), so two tries predict the limit and the search
    needs a handful of fresh processes instead of doubling into minutes of out-of-memory tries
    (the H100 lease ran out of time during the doubling: docs/performance.md).
    """
    pts = sorted(points)[-2:]
    if len(pts) < 2 or pts[1][0] == pts[0][0] or pts[1][1] <= pts[0][1]:
        return None
    slope = (pts[1][1] - pts[0][1]) / (pts[1][0] - pts[0][0])
    intercept = pts[1][1] - slope * pts[1][0]
    return max(pts[1][0], int((headroom * memory_mib - intercept) / slope))


def max_batch(preset: str, dtype: str, args, start: int, timeout: float,
              memory_mib: float | None = None) -> dict[str, Any]:
    """Largest batch whose training step runs (CUDA): two tries (start, 2·start), then a jump to
    the linear memory prediction (:func:`predict_max_batch`), doubling when no prediction is
    possible, then bisection between the largest fit and the smallest failure."""
    if memory_mib is None and torch.cuda.is_available():
        memory_mib = torch.cuda.get_device_properties(0).total_memory / 2**20

    def fits(b: int) -> dict[str, Any]:
        spec = dict(preset=preset, batch=b, dtype=dtype, channels_last=True, compile=False,
                    steps=2, warmup=1, repeats=1)
        r = _child(spec, args, timeout)
        rows.append(r)
        print(f"    max-batch {preset} {dtype}: batch {b} -> {r.get('status')} "
              f"{r.get('peak_memory_mib', 0):.0f} MiB", flush=True)
        return r

    good, bad, rows, points = None, None, [], []
    b = start
    while bad is None and b <= 4096:
        r = fits(b)
        if r.get("status") != "ok":
            bad = b
            break
        good = r
        points.append((b, float(r.get("peak_memory_mib") or 0.0)))
        guess = predict_max_batch(points, memory_mib) if memory_mib else None
        b = b * 2 if guess is None else guess if guess > b else int(b * 1.15) + 1
    if good is not None and bad is not None:
        lo, hi = good["batch"], bad
        while hi - lo > max(1, lo // args.max_batch_precision):
            mid = (lo + hi) // 2
            r = fits(mid)
            if r.get("status") == "ok":
                lo, good = mid, r
            else:
                hi = mid
    return {"preset": preset, "dtype": dtype, "channels_last": True,
            "max_batch": good["batch"] if good else None,
            "peak_memory_mib": good.get("peak_memory_mib") if good else None,
            "images_per_s": good.get("images_per_s") if good else None, "tries": rows}


# --------------------------------------------------------------------------------------------
# Matrix and main
# --------------------------------------------------------------------------------------------


def default_specs(args, device: torch.device) -> list[dict[str, Any]]:
    """The configurations to run: explicit flags, or the device's default matrix."""
    def spec(preset, batch, dtype, cl, comp, steps, warmup, repeats):
        return dict(preset=preset, batch=batch, dtype=dtype, channels_last=cl, compile=comp,
                    steps=steps, warmup=warmup, repeats=repeats)

    if args.preset:  # one explicit configuration (flags); a dtype "both" expands
        batch = args.batch or get_preset(args.preset).stage1.batch_size
        dtypes = ["fp32", "bf16"] if args.dtype == "both" else [args.dtype or "fp32"]
        return [{**spec(args.preset, batch, d, args.channels_last, args.compile,
                        args.steps or 10, args.warmup if args.warmup is not None else 3,
                        args.repeats or 3), "profile": args.profile} for d in dtypes]
    if args.quick:
        return [spec("synth-tiny", 2, "bf16", True, False, 1, 1, 1)]
    if device.type == "cuda":
        steps, warmup, reps = args.steps or 50, args.warmup or 10, args.repeats or 3
        out = []
        if args.matrix == "core":  # the variants that matter, within one device-time budget
            for preset, batch, d, cl, comp in (
                    ("market", 16, "fp32", False, False), ("market", 16, "bf16", False, False),
                    ("market", 16, "bf16", True, False), ("deepfashion", 6, "fp32", True, False),
                    ("deepfashion", 6, "bf16", True, False),
                    ("market", 16, "bf16", True, True)):  # compile last: the slowest to start
                out.append(spec(preset, batch, d, cl, comp, steps, warmup, reps))
            return out
        for preset, batch in (("market", 16), ("deepfashion", 6)):
            for d, cl, comp in itertools.product(("fp32", "bf16"), (False, True), (False, True)):
                out.append(spec(preset, batch, d, cl, comp, steps, warmup, reps))
        return out
    # CPU: the synth-tiny matrix, then Market at batch 2 (a paper-size step, ~6.6 TFLOP at
    # batch 16, takes minutes on a shared 2-core CPU; its FLOPs at b16 are counted on "meta").
    steps, warmup, reps = args.steps or 2, args.warmup or 1, args.repeats or 3
    out = [spec("synth-tiny", 16, d, cl, False, steps, warmup, reps)
           for d, cl in itertools.product(("fp32", "bf16"), (False, True))]
    out.append(spec("synth-tiny", 16, "fp32", False, True, steps, warmup, min(reps, 2)))
    out.append(spec("market", 2, "fp32", False, False, 1, 1, reps))
    out.append(spec("market", 2, "bf16", False, False, 1, 1, reps))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = C.base_parser(__doc__)
    ap.add_argument("--preset", choices=("market", "deepfashion", "synth-tiny", "synth"),
                    help="run one configuration instead of the default matrix")
    ap.add_argument("--batch", type=int, help="images per step (default: the preset's)")
    ap.add_argument("--dtype", choices=("fp32", "bf16", "both"), help="autocast dtype")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile G side and D")
    ap.add_argument("--steps", type=int, help="timed steps per repeat")
    ap.add_argument("--warmup", type=int, help="untimed steps first (the first one included)")
    ap.add_argument("--no-isolate", action="store_true",
                    help="run every configuration in this process (CPU peak-RSS then "
                         "under-reads after the first)")
    ap.add_argument("--config-timeout", type=float, default=900.0,
                    help="seconds a configuration may take in its subprocess (compile: "
                         "reported as skipped beyond this)")
    ap.add_argument("--compile-timeout", type=float, default=300.0,
                    help="seconds allowed to a CPU torch.compile configuration")
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS",
                    help="with --preset: profile STEPS more steps and list the top ops/kernels")
    ap.add_argument("--no-max-batch", action="store_true", help="skip the CUDA max-batch search")
    ap.add_argument("--matrix", choices=("full", "core"), default="full",
                    help="CUDA default matrix: full (2 presets x dtype x layout x compile) or "
                         "core (6 configurations: the variants that decide the fast path)")
    ap.add_argument("--only-max-batch", action="store_true",
                    help="CUDA: only the DeepFashion max-batch search (no timing matrix)")
    ap.add_argument("--max-batch-precision", type=int, default=16,
                    help="bisect until the bracket is narrower than max_batch / this")
    ap.add_argument("--max-batch-dtypes", default="bf16,fp32",
                    help="comma-separated dtypes for the CUDA DeepFashion max-batch search")
    ap.add_argument("--fast-path", action="store_true",
                    help="eager step against stage1_compile='graphs' (CUDA graph) in one run: "
                         "steps/s, ratio, MFU, max |Δ loss| (--preset, --batch, --dtype, "
                         "--channels-last, --steps, --warmup apply)")
    ap.add_argument("--single", help=__import__("argparse").SUPPRESS)
    args = ap.parse_args(argv)
    C.check_positive(ap, batch=args.batch, steps=args.steps, repeats=args.repeats)
    try:
        device = C.setup_device(args)
    except ValueError as exc:
        ap.error(str(exc))

    if args.single:  # child mode: one configuration, one JSON line
        row = run_config(json.loads(args.single), device)
        print(RESULT_TAG + json.dumps(row))
        return 0

    if args.fast_path:
        return _fast_path_main(args, device)

    specs = [] if args.only_max_batch else default_specs(args, device)
    bf16_rate = fp32_rate = None
    if not args.quick:
        fp32_rate = matmul_rate(device, torch.float32)
        bf16_rate = matmul_rate(device, torch.bfloat16)
    # FLOPs do not depend on dtype or layout: count each (preset, batch) once, on "meta", and
    # always the paper configurations (Market b16, DeepFashion b6) unless --quick.
    keys = list(dict.fromkeys((s["preset"], s["batch"]) for s in specs))
    if not args.quick:
        keys += [k for k in (("market", 16), ("deepfashion", 6)) if k not in keys]
    flops = {k: count_flops(get_preset(k[0]), k[1]) for k in keys}
    if not specs:
        rows = []
    elif args.no_isolate or args.quick:
        rows = []
        partial = C.output_path(NAME, args)
        for s in specs:
            print(f"... {_label(s)}", flush=True)
            rows.append(run_config(s, device))
            # each row as it lands: a run cut short by a time limit keeps what it measured
            print(RESULT_TAG + json.dumps(rows[-1]), flush=True)
            if partial is not None:
                C.write_json(partial.with_suffix(".partial.json"), {"results": rows})
    else:
        rows = _interleaved(specs, args, device)
    if not args.quick:  # the load drifts: keep the better of a measurement before and after
        fp32_rate = max(fp32_rate, matmul_rate(device, torch.float32))
        bf16_rate = max(bf16_rate, matmul_rate(device, torch.bfloat16))
    for r in rows:
        f = flops.get((r["preset"], r["batch"]))
        if f and r.get("status") == "ok":
            r["achieved_tflop_per_s"] = f["train_step_flops"] / r["s_per_step"] / 1e12
            if device.type == "cuda" and bf16_rate:
                r["mfu_vs_bf16_matmul"] = r["achieved_tflop_per_s"] * 1e12 / bf16_rate
            elif fp32_rate:
                r["fraction_of_fp32_matmul"] = r["achieved_tflop_per_s"] * 1e12 / fp32_rate
        tgt = TARGETS.get(r["preset"]) if device.type == "cuda" else None
        if tgt and r.get("status") == "ok":
            r["target_steps_per_s"] = tgt["steps_per_s"]
            r["fraction_of_target"] = r["steps_per_s"] / tgt["steps_per_s"]

    max_batches = []
    if device.type == "cuda" and not args.quick and not args.no_max_batch and (
            not args.preset or args.only_max_batch):
        for dtype in [d for d in args.max_batch_dtypes.split(",") if d]:
            max_batches.append(max_batch("deepfashion", dtype, args, 6, args.config_timeout))

    cols = ["preset", "batch", "dtype", "channels_last", "compile", "images_per_s",
            "steps_per_s", "s_per_step", "peak_memory_mib", "achieved_tflop_per_s",
            "mfu_vs_bf16_matmul" if device.type == "cuda" else "fraction_of_fp32_matmul",
            "status"]
    C.print_table(f"Stage-I training step on {device} (median of repeats; memory: "
                  f"{'CUDA max allocated' if device.type == 'cuda' else 'CPU peak-RSS delta'})",
                  rows, cols)
    frows = [{"preset": p, "batch": b, "GFLOP/step": f["train_step_flops"] / 1e9,
              "GFLOP/img train": f["train_flops_per_image"] / 1e9,
              "GFLOP/img G fwd": f["reconstruct_forward_flops_per_image"] / 1e9,
              "G upd GFLOP": f["g_update_flops"] / 1e9, "D upd GFLOP": f["d_update_flops"] / 1e9}
             for (p, b), f in flops.items()]
    C.print_table("Counted FLOPs (FlopCounterMode: matmul/conv fwd+bwd)", frows,
                  list(frows[0]) if frows else ["preset"])
    for r in rows:
        if r.get("top_ops"):
            C.print_table(f"Top ops by self {'device' if device.type == 'cuda' else 'CPU'} time: "
                          f"{_label(r)}", r["top_ops"],
                          ["name", "calls", "self_time_ms_per_step", "share"])
    if max_batches:
        C.print_table("Largest DeepFashion batch that fits", max_batches,
                      ["preset", "dtype", "max_batch", "peak_memory_mib", "images_per_s"])
    payload = {"benchmark": NAME, "quick": args.quick, "environment": C.environment(device),
               "matmul_rate_flop_per_s": {"fp32": fp32_rate, "bf16": bf16_rate},
               "step_definition": "stage1.stage1_step, it>0, accum 1, no DDP: "
                                  "G update (encoder+generator) then D update, fixed batch",
               "results": rows, "flops": list(flops.values()),
               "max_batch": max_batches}
    C.write_json(C.output_path(NAME, args), payload)
    return 0 if all(r.get("status") == "ok" or str(r.get("status")).startswith("skipped")
                    for r in rows) else 1


def _fast_path_main(args, device: torch.device) -> int:
    preset = args.preset or ("synth-tiny" if args.quick or device.type != "cuda" else "market")
    batch = args.batch or get_preset(preset).stage1.batch_size
    steps = args.steps or (3 if args.quick else 200)
    warmup = args.warmup or (2 if args.quick else 20)
    dtype = args.dtype if args.dtype in ("fp32", "bf16") else (
        "bf16" if device.type == "cuda" else "fp32")
    row = compare_fast_path(preset, batch, device, dtype, args.channels_last, steps, warmup)
    f = count_flops(get_preset(preset), batch)
    rate = None if args.quick else matmul_rate(device, torch.bfloat16)
    for name in ("eager", "graphs"):
        r = row[name]
        r["achieved_tflop_per_s"] = f["train_step_flops"] * r["steps_per_s"] / 1e12
        if device.type == "cuda" and rate:
            r["mfu_vs_bf16_matmul"] = r["achieved_tflop_per_s"] * 1e12 / rate
    tgt = TARGETS_FAST.get(preset) if device.type == "cuda" else None
    if tgt:
        row["target_steps_per_s"] = tgt
        row["target_met"] = row["graphs"]["steps_per_s"] >= tgt
    C.print_table(f"Stage-I step, eager vs CUDA-graph fast path on {device} "
                  f"({'captured' if row['captured'] else 'uncaptured: no CUDA'})",
                  [{"variant": n, **row[n]} for n in ("eager", "graphs")],
                  ["variant", "steps_per_s", "images_per_s", "achieved_tflop_per_s",
                   "mfu_vs_bf16_matmul"])
    print(f"speedup {row['speedup']:.3f}x, max |Δ loss| over {warmup + steps} steps "
          f"{row['max_abs_delta_loss']:.3g} (eager against a second eager run: "
          f"{row['eager_repeat_max_abs_delta_loss']:.3g}), graph captures {row['graph_captures']}")
    C.write_json(C.output_path(NAME + "_fast_path", args),
                 {"benchmark": NAME + "_fast_path", "quick": args.quick,
                  "environment": C.environment(device), "matmul_rate_flop_per_s": {"bf16": rate},
                  "flops": f, "result": row})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
