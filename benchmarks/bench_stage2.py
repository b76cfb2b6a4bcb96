"""Stage-II step: steps/s of every mapping network Φ with its embedding critic (orig §4.3).

The step is the trainer's: one :class:`dpiglib.training.stage2.FactorTrainer` per factor of
:func:`dpiglib.models.mapping.factor_dims` (Market ``fg``, ``bg``, ``pose``; DeepFashion ``app``,
``pose``), each ``FactorTrainer.step(it)`` = one Φ update (L_Φ = −mean f(Φ(z))) then
``critic_steps`` (5) critic updates (L = mean f(Φ(z)) − mean f(e)), with weight clipping and
RMSProp (``wgan-clip``, the original) or the gradient penalty and Adam (``wgan-gp``, orig B12). Steps
are timed in the steady state (``it ≥ 1``, so the Φ update is included). A Market appearance step
(model 3) steps ``fg`` then ``bg``, a pose step (model 4) steps ``pose``; "all" is one of each.

Real embeddings, two modes:

* ``bank`` (default, what ``train_stage2`` does: deviation (2) of its docstring): real
  embeddings are rows of a table on the device, so the timing is Φ and critics alone;
* ``encoder``: every critic step re-encodes a real batch with the frozen Stage-I encoder (and
  pose auto-encoder), as the original's every-``sess.run`` dequeue did (orig §4.3): the cost the
  cache avoids. On CPU only the synth-tiny preset is run this way.

    python benchmarks/bench_stage2.py                  # CPU: synth-tiny + market (bank), tiny encoder
    python benchmarks/bench_stage2.py --device cuda    # GPU: market + deepfashion, both modes
    python benchmarks/bench_stage2.py --quick          # CI smoke
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

import _common as C
from dpiglib.config import RunConfig, get_preset
from dpiglib.models.mapping import build_critics, build_mapping_networks, factor_dims
from dpiglib.data.pose import normalize_rcv
from dpiglib.models.pose_ae import PoseAutoEncoder
from dpiglib.core.runtime import seed_everything
from dpiglib.models.stage1 import Stage1Model
from dpiglib.training.stage2 import FactorTrainer

NAME = "stage2"
BANK_SIZE = 4096  # rows of the real-embedding table in bank mode


class _EncodeEachBatch:
    """Stands in for ``FactorTrainer.real`` in encoder mode: indexing it runs the frozen encoder
    on a real batch (no grad) instead of reading cached rows."""

    def __init__(self, encode, n: int, dim: int, device: torch.device):
        self.encode, self.n, self.shape, self.device = encode, n, (n, dim), device

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.encode()[: len(idx)]


class Stage2Step:
    """Every factor's :class:`~dpiglib.training.stage2.FactorTrainer` for a preset (module docstring).

    Args:
        cfg: run config (``model`` for the factor sizes, ``stage2`` for batch sizes, objective,
            lr, clip, critic steps, GP settings).
        device: where to run.
        mode: ``"bank"`` or ``"encoder"`` (real embeddings from the frozen Stage-I encoders).
        batch: appearance batch (default ``stage2.batch_size``); pose uses
            ``stage2.pose_batch_size``.
    """

    def __init__(self, cfg: RunConfig, device: torch.device, mode: str = "bank",
                 batch: int | None = None):
        if mode not in ("bank", "encoder"):
            raise ValueError(f"mode must be 'bank' or 'encoder', got {mode!r}")
        self.cfg, self.s2, self.device, self.mode = cfg, cfg.stage2, device, mode
        seed_everything(cfg.seed)
        phi = build_mapping_networks(cfg.model).to(device)
        critic = build_critics(cfg.model).to(device)
        self.dims = factor_dims(cfg.model)
        self.batch = {k: (self.s2.pose_batch_size if k == "pose" else batch or self.s2.batch_size)
                      for k in self.dims}
        if mode == "encoder":
            self._build_encoders(cfg, device)
        gen = torch.Generator().manual_seed(cfg.seed)
        self.trainers = {}
        for k, (d, _) in self.dims.items():
            if mode == "bank":
                real = torch.randn(BANK_SIZE, d, generator=gen).to(device)
            else:
                real = _EncodeEachBatch(lambda k=k: self._encode(k), BANK_SIZE, d, device)
            self.trainers[k] = FactorTrainer(k, phi[k], critic[k], real, self.s2, self.batch[k],
                                             cfg.seed)
        self.it = 1  # steady state: every timed step includes the Φ update

    def _build_encoders(self, cfg: RunConfig, device: torch.device) -> None:
        from bench_stage1 import synthetic_batch

        self.stage1 = Stage1Model(cfg.model).to(device).eval().requires_grad_(False)
        self.pae = PoseAutoEncoder(cfg.model).to(device).eval().requires_grad_(False)
        app = next(k for k in self.dims if k != "pose")
        self.images = synthetic_batch(cfg, self.batch[app], device)
        rcv = synthetic_batch(cfg, min(self.s2.pose_batch_size, 64), torch.device("cpu"),
                              seed=1)["rcv"]
        reps = -(-self.s2.pose_batch_size // rcv.shape[0])
        rcv = normalize_rcv(rcv.repeat(reps, 1, 1)[: self.s2.pose_batch_size],
                            cfg.data.image_size)  # checked on the CPU (meta cannot)
        self.poses = rcv.reshape(rcv.shape[0], -1).to(device)

    def _encode(self, k: str) -> torch.Tensor:
        if k == "pose":
            return self.pae.encode(self.poses)
        x = self.images
        e_fg, e_bg = self.stage1.encoder(x["image"], x["boxes"], x["box_vis"], x["mask"])
        return e_bg if k == "bg" else e_fg

    def step(self, factors: tuple[str, ...]) -> None:
        """One training step ``it`` of each factor in ``factors``."""
        for k in factors:
            self.trainers[k].step(self.it)
        self.it += 1


def groups(step: Stage2Step) -> dict[str, tuple[str, ...]]:
    """Named step kinds: the appearance model (fg+bg or app), the pose model, and all."""
    app = tuple(k for k in step.dims if k != "pose")
    return {"appearance": app, "pose": ("pose",), "all": app + ("pose",)}


class _FlopCount(TorchDispatchMode):
    """``FlopCounterMode``'s per-op formulas (``flop_registry``) without its module tracker,
    whose autograd hooks reject the ``autograd.grad(create_graph=True)`` of WGAN-GP."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out

    def get_total_flops(self) -> int:
        return self.total


def count_flops(cfg: RunConfig, mode: str, batch: int | None = None) -> dict[str, float]:
    """Counted FLOPs (matmul formulas of ``torch.utils.flop_counter``, on the ``meta`` device)
    of one step of each kind, at step > 0."""
    step = Stage2Step(cfg, torch.device("meta"), mode, batch)
    out = {}
    for name, factors in groups(step).items():
        with _FlopCount() as fc:
            step.step(factors)
        out[name] = float(fc.get_total_flops())
    return out


def run(cfg: RunConfig, device: torch.device, mode: str, steps: int, warmup: int,
        repeats: int, batch: int | None = None) -> list[dict[str, Any]]:
    step = Stage2Step(cfg, device, mode, batch)
    flops = count_flops(cfg, mode, batch)
    rows = []
    for name, factors in groups(step).items():
        with C.PeakMemory(device) as pm:
            t = C.time_steps(lambda: step.step(factors), device, steps, warmup, repeats)
        rows.append({"preset": cfg.preset, "mode": mode, "kind": name,
                     "factors": "+".join(factors), "objective": cfg.stage2.objective,
                     "app_batch": step.batch.get("fg", step.batch.get("app")),
                     "pose_batch": step.batch["pose"],
                     "critic_steps": cfg.stage2.critic_steps, **t,
                     "steps_per_s": 1.0 / t["s_per_step"], "flops_per_step": flops[name],
                     "achieved_gflop_per_s": flops[name] / t["s_per_step"] / 1e9,
                     **pm.result(), "status": "ok"})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = C.base_parser(__doc__)
    ap.add_argument("--preset", action="append",
                    choices=("market", "deepfashion", "synth-tiny", "synth"),
                    help="preset(s) to run (repeatable; default: device's list)")
    ap.add_argument("--mode", action="append", choices=("bank", "encoder"),
                    help="real-embedding source (repeatable; default: device's list)")
    ap.add_argument("--objective", choices=("wgan-clip", "wgan-gp"),
                    help="override the preset's Stage-II objective")
    ap.add_argument("--batch", type=int, help="appearance batch (default: the preset's)")
    ap.add_argument("--steps", type=int, help="timed steps per repeat")
    ap.add_argument("--warmup", type=int, help="untimed steps first")
    args = ap.parse_args(argv)
    C.check_positive(ap, steps=args.steps, repeats=args.repeats, batch=args.batch)
    try:
        device = C.setup_device(args)
    except ValueError as exc:
        ap.error(str(exc))
    if args.quick:
        plan = [("synth-tiny", "bank"), ("synth-tiny", "encoder")]
        steps, warmup, repeats = 1, 1, 1
        args.batch = args.batch or 4
    else:
        presets = args.preset or (["market", "deepfashion"] if device.type == "cuda"
                                  else ["synth-tiny", "market"])
        modes = args.mode or ["bank", "encoder"]
        plan = [(p, m) for p in presets for m in modes
                if not (m == "encoder" and device.type == "cpu" and p != "synth-tiny"
                        and not args.mode)]
        steps = args.steps or (50 if device.type == "cuda" else 5)
        warmup = args.warmup if args.warmup is not None else (10 if device.type == "cuda" else 1)
        repeats = args.repeats or 5
    rows = []
    for preset, mode in plan:
        over = {"stage2_objective": args.objective} if args.objective else {}
        cfg = get_preset(preset, **over)
        print(f"... {preset} {mode}", flush=True)
        if mode == "encoder" and device.type == "cpu" and not args.quick and not args.steps:
            # ten frozen-encoder passes per appearance step: seconds each on a shared CPU
            rows += run(cfg, device, mode, 1, 1, min(repeats, 3), args.batch)
        else:
            rows += run(cfg, device, mode, steps, warmup, repeats, args.batch)
    C.print_table(f"Stage-II step on {device} (Φ update + {rows[0]['critic_steps']} critic "
                  "updates per factor; median of repeats)", rows,
                  ["preset", "mode", "kind", "factors", "objective", "steps_per_s",
                   "s_per_step", "flops_per_step", "achieved_gflop_per_s", "peak_memory_mib"])
    payload = {"benchmark": NAME, "quick": args.quick, "environment": C.environment(device),
               "step_definition": "dpiglib.training.stage2.FactorTrainer.step(it>=1) per factor: Φ "
                                  "update then critic_steps critic updates",
               "results": rows}
    C.write_json(C.output_path(NAME, args), payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
