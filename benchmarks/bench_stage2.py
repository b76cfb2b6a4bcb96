"""Stage-II step: steps/s of every mapping network Φ with its embedding critic (spec §4.3).

``dpiglib.stage2`` did not exist when this was written, so the step is **built here from**
:mod:`dpiglib.mapping` and :mod:`dpiglib.losses` following spec §4.3: per Φ step, one Φ update
(L_Φ = −mean f(Φ(z))) then ``critic_steps`` (5) critic updates (L = mean f(Φ(z)) − mean f(e)),
each followed by weight clipping to [−c, c] (``wgan-clip``: RMSProp, the original) or with the
gradient penalty (``wgan-gp``: Adam, B12), z ~ N(0, 0.2²) (B13). One Φ/critic pair per factor of
:func:`dpiglib.mapping.factor_dims`; a Market appearance step (model 3) updates ``fg`` then ``bg``,
a pose step (model 4) updates ``pose``; "all" is one of each.

Real embeddings, two modes:

* ``bank`` (default): real embeddings are rows of a fixed on-device tensor, so the timing is the
  mapping networks and critics alone;
* ``encoder``: every critic step encodes a fresh real batch with the frozen Stage-I encoder (and
  pose auto-encoder), as the original's every-``sess.run`` dequeue did (spec §4.3). Its cost is
  dominated by the encoder; on CPU only the synth-tiny preset is run this way.

    python benchmarks/bench_stage2.py                  # CPU: synth-tiny + market, bank; tiny encoder
    python benchmarks/bench_stage2.py --device cuda    # GPU: market + deepfashion, both modes
    python benchmarks/bench_stage2.py --quick          # CI smoke
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

import _common as C
from dpiglib import losses
from dpiglib.config import RunConfig, get_preset
from dpiglib.mapping import build_critics, build_mapping_networks, factor_dims, sample_noise
from dpiglib.pose import normalize_rcv
from dpiglib.pose_ae import PoseAutoEncoder
from dpiglib.runtime import seed_everything
from dpiglib.stage1 import Stage1Model

NAME = "stage2"


class Stage2Step:
    """Φ + critic updates for every factor of a preset (see module docstring).

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
        self.phi = build_mapping_networks(cfg.model).to(device)
        self.critic = build_critics(cfg.model).to(device)
        self.dims = factor_dims(cfg.model)
        self.batch = {k: (self.s2.pose_batch_size if k == "pose" else batch or self.s2.batch_size)
                      for k in self.dims}
        self.opt_phi, self.opt_critic = {}, {}
        for k in self.dims:
            self.opt_phi[k] = self._optimiser(self.phi[k].parameters())
            self.opt_critic[k] = self._optimiser(self.critic[k].parameters())
        self.gen = None  # the meta device (FLOP counting) has no generator
        if device.type != "meta":
            self.gen = torch.Generator(device=device)
            self.gen.manual_seed(cfg.seed)
        self.steps_done = 0
        if mode == "bank":
            self.bank = {k: sample_noise(4096, d, 1.0, self.gen, device) for k, (d, _) in
                         self.dims.items()}
        else:
            from bench_stage1 import synthetic_batch

            self.stage1 = Stage1Model(cfg.model).to(device).eval().requires_grad_(False)
            self.pae = PoseAutoEncoder(cfg.model).to(device).eval().requires_grad_(False)
            self.images = synthetic_batch(cfg, self.batch[next(iter(self.dims))], device)
            rcv = synthetic_batch(cfg, min(self.s2.pose_batch_size, 64), torch.device("cpu"),
                                  seed=1)["rcv"]
            reps = -(-self.s2.pose_batch_size // rcv.shape[0])
            rcv = normalize_rcv(rcv.repeat(reps, 1, 1)[: self.s2.pose_batch_size],
                                cfg.data.image_size)  # (B, 54), checked on the CPU
            self.poses = rcv.reshape(rcv.shape[0], -1).to(device)

    def _optimiser(self, params):
        if self.s2.objective == "wgan-clip":  # the original: RMSProp for Φ and critic (§4.3)
            return torch.optim.RMSprop(params, lr=self.s2.lr)
        return torch.optim.Adam(params, lr=self.s2.lr, betas=(self.s2.gp_beta1, self.s2.gp_beta2))

    def real(self, k: str) -> torch.Tensor:
        """A real embedding batch of factor ``k``: bank rows, or a fresh frozen-encoder pass."""
        b = self.batch[k]
        if self.mode == "bank":
            idx = torch.randint(0, self.bank[k].shape[0], (b,), generator=self.gen,
                                device=self.device)
            return self.bank[k][idx]
        with torch.no_grad():
            if k == "pose":
                return self.pae.encode(self.poses)
            x = self.images
            e_fg, e_bg = self.stage1.encoder(x["image"], x["boxes"], x["box_vis"], x["mask"])
            return e_bg if k == "bg" else e_fg

    def factor_step(self, k: str) -> None:
        """One Φ_k update (skipped at step 0, trainer.py:821-867) then the critic updates."""
        phi, critic, b = self.phi[k], self.critic[k], self.batch[k]
        dim = self.dims[k][0]
        if self.steps_done > 0:
            self.opt_phi[k].zero_grad(set_to_none=True)
            critic.requires_grad_(False)
            fake = phi(sample_noise(b, dim, self.s2.noise_std, self.gen, self.device))
            losses.wgan_generator_loss(critic(fake)).backward()
            self.opt_phi[k].step()
            critic.requires_grad_(True)
        for _ in range(self.s2.critic_steps):
            self.opt_critic[k].zero_grad(set_to_none=True)
            real = self.real(k)
            with torch.no_grad():
                fake = phi(sample_noise(b, dim, self.s2.noise_std, self.gen, self.device))
            loss = losses.wgan_critic_loss(critic(real), critic(fake))
            if self.s2.objective == "wgan-gp":
                loss = loss + losses.gradient_penalty(critic, real, fake, self.gen,
                                                      self.s2.gp_lambda)
            loss.backward()
            self.opt_critic[k].step()
            if self.s2.objective == "wgan-clip":
                losses.clip_weights_(critic, self.s2.clip)

    def step(self, factors: tuple[str, ...]) -> None:
        for k in factors:
            self.factor_step(k)
        self.steps_done += 1


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


def count_flops(cfg: RunConfig, mode: str) -> dict[str, float]:
    """Counted FLOPs (matmul formulas of ``torch.utils.flop_counter``, on the ``meta`` device)
    of one step of each kind, at step > 0."""
    step = Stage2Step(cfg, torch.device("meta"), mode)
    step.steps_done = 1
    out = {}
    for name, factors in groups(step).items():
        with _FlopCount() as fc:
            step.step(factors)
        out[name] = float(fc.get_total_flops())
    return out


def run(cfg: RunConfig, device: torch.device, mode: str, steps: int, warmup: int,
        repeats: int) -> list[dict[str, Any]]:
    step = Stage2Step(cfg, device, mode)
    flops = count_flops(cfg, mode)
    rows = []
    for name, factors in groups(step).items():
        with C.PeakMemory(device) as pm:
            t = C.time_steps(lambda: step.step(factors), device, steps, warmup, repeats)
        rows.append({"preset": cfg.preset, "mode": mode, "kind": name,
                     "factors": "+".join(factors), "objective": cfg.stage2.objective,
                     "app_batch": cfg.stage2.batch_size, "pose_batch": cfg.stage2.pose_batch_size,
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
    ap.add_argument("--steps", type=int, help="timed steps per repeat")
    ap.add_argument("--warmup", type=int, help="untimed steps first")
    args = ap.parse_args(argv)
    C.check_positive(ap, steps=args.steps, repeats=args.repeats)
    try:
        device = C.setup_device(args)
    except ValueError as exc:
        ap.error(str(exc))
    if args.quick:
        plan = [("synth-tiny", "bank"), ("synth-tiny", "encoder")]
        steps, warmup, repeats = 1, 1, 1
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
        rows += run(cfg, device, mode, steps, warmup, repeats)
    C.print_table(f"Stage-II step on {device} (Φ update + {rows[0]['critic_steps']} critic "
                  "updates per factor; median of repeats)", rows,
                  ["preset", "mode", "kind", "factors", "objective", "steps_per_s",
                   "s_per_step", "flops_per_step", "achieved_gflop_per_s", "peak_memory_mib"])
    payload = {"benchmark": NAME, "quick": args.quick, "environment": C.environment(device),
               "step_definition": "spec §4.3 built from dpiglib.mapping/losses (no stage2.py "
                                  "yet): per factor Φ update then critic_steps critic updates",
               "results": rows}
    C.write_json(C.output_path(NAME, args), payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
