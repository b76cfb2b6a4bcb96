"""Stage-I training: the image auto-encoder GAN and the pose auto-encoder (orig §3.6-3.7).

One trainer, :func:`train_stage1`, serves both Stage-I models of the paper:

* ``model="image"`` (models 1/101): ``encoder`` (fg/bg or appearance) and ``generator`` are one
  "G" trained end to end against the DCGAN ``discriminator``. Step 0 updates only D; each later
  step does one G update, then one D update (trainer.py:336-366). Adam(lr, β1, β2) for both, lr
  halved every ``lr_halve_every`` steps. L_D = ½[CE(D(x),1) + CE(D(G),0)],
  L_G = CE(D(G),1) + λ·mean|G − x|; the masked L1 is logged only (orig §3.6, orig B8).
* ``model="pose"`` (models 2/102): the FC pose auto-encoder, L = λ_pose·MSE on normalised rcv,
  trained on keypoints alone (no images are read).

Decision for orig B11: **one batch per iteration** (globally shuffled each epoch); the G step
and the following D step see the same images, and D scores the fake G produced just before its
update (one generator forward per iteration). The original dequeued a fresh batch for each.

Around the loop (not in the paper): CSV logs, sample grids, held-out L1/SSIM, atomic checkpoints
with every RNG state and the data position (resume is bit-exact), a NaN guard checked only at
log/checkpoint intervals, AMP, channels_last, gradient accumulation and DDP.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dpiglib.models import losses
from dpiglib.training.graphs import StaticStep, resolve_stage1_compile
from dpiglib.core.checkpoint import CheckpointManager, checkpoint_header, load_run_checkpoint
from dpiglib.config import RunConfig, config_from_dict, record_resolved
from dpiglib.data.datasets import PersonDataset, prepare_batch, spread_batch, spread_indices
from dpiglib.data.annotations import find_dataset_files, is_all_missing, read_annotation_csv
from dpiglib.models.stage1 import Reconstructor, Stage1Model
from dpiglib.data.pose import flip_rcv, normalize_rcv
from dpiglib.models.pose_ae import PoseAutoEncoder
from dpiglib.core.runlog import CSVLogger, NonFiniteLossError, check_finite, save_image_grid
from dpiglib.core.runtime import (BatchOrder, amp_settings, capture_rng_state, cleanup_distributed,
                                  configure_backends, eval_mode, init_distributed,
                                  resolve_num_workers, restore_rng_state, seed_everything)

__all__ = ["Stage1Nets", "stage1_step", "generator_step", "discriminator_step",
           "Update", "train_stage1", "load_stage1", "reconstruction_ssim", "LOG_COLUMNS",
           "POSE_LOG_COLUMNS"]

LOG_COLUMNS = ["step", "time", "lr", "d_loss", "g_adv", "g_l1", "g_total", "masked_l1",
               "steps_per_s"]
POSE_LOG_COLUMNS = ["step", "time", "lr", "pose_loss", "steps_per_s"]
VAL_COLUMNS = ["step", "val_l1", "val_ssim", "images"]
POSE_VAL_COLUMNS = ["step", "val_pose_loss", "poses"]


class _PoseRoundTrip(nn.Module):
    """rcv_norm (B, 54) → decode(encode(·)) (B, 54), one forward for DDP."""

    def __init__(self, pae: PoseAutoEncoder):
        super().__init__()
        self.pae = pae

    def forward(self, x):
        return self.pae.decode(self.pae.encode(x)).reshape(x.shape[0], -1)


class _FlipIndexed(torch.utils.data.Dataset):
    """Index ``i + n`` means item ``i`` flipped: the flip is chosen by :class:`BatchOrder`."""

    def __init__(self, ds: PersonDataset):
        self.ds = ds

    def __len__(self) -> int:
        return 2 * len(self.ds)

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self.ds)
        return self.ds.load(i % n, flip=i >= n)


class _Stream:
    def __init__(self, order: BatchOrder, start: int):
        self.order, self.start = order, start

    def __iter__(self):
        return self.order.stream(self.start)


def reconstruction_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two ``(B, 3, H, W)`` batches in [-1, 1], per image ``(B,)``.

    Validation monitor only (Gaussian window 11, σ 1.5, data range 2, channels averaged, "valid"
    borders, the Wang et al. 2004 constants); the paper's protocols live in ``dpiglib.metrics``.
    """
    with torch.autocast(device_type=a.device.type, enabled=False):  # fp32 even under AMP
        return _ssim_fp32(a, b)


def _ssim_fp32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x = torch.arange(11, dtype=torch.float32, device=a.device) - 5
    g = torch.exp(-x ** 2 / (2 * 1.5 ** 2))
    g = g / g.sum()
    win = (g[:, None] * g[None, :]).expand(a.shape[1], 1, 11, 11)
    a, b = a.float(), b.float().clamp(-1, 1)
    f = lambda t: F.conv2d(t, win, groups=a.shape[1])  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    var_a, var_b = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2
    cov = f(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2, 3))


# --------------------------------------------------------------------------------------------
# Shared set-up
# --------------------------------------------------------------------------------------------


def _adam_and_schedule(params, lr, s1cfg):
    params = list(params)
    # CUDA: the fused kernel updates every tensor in one launch (one of the GPU fast-path
    # pieces, issue 7); CPU keeps the default for-each path so CPU numbers stay as they were.
    fused = bool(params) and all(p.is_cuda for p in params)
    opt = torch.optim.Adam(params, lr=lr, betas=(s1cfg.beta1, s1cfg.beta2), fused=fused or None)
    # lr × 0.5 every lr_halve_every steps (orig §3.6); gamma 1 when disabled keeps one code path
    every = s1cfg.lr_halve_every
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=every if every > 0 else 1,
                                            gamma=0.5 if every > 0 else 1.0)
    return opt, sched


def _all_finite(*modules: nn.Module) -> bool:
    flags = [torch.isfinite(p).all() for m in modules for p in m.parameters()]
    return bool(torch.stack(flags).all()) if flags else True


class _Run:
    """Logs, checkpoints and timing shared by both Stage-I models (rank 0 writes)."""

    def __init__(self, cfg, out_dir, kind, ckpt_sub, log_name, columns, val_name, val_columns,
                 info, resume):
        self.cfg, self.kind, self.info = cfg, kind, info
        self.dir = Path(out_dir) / "stage1"
        self.manager = CheckpointManager(self.dir / ckpt_sub, cfg.stage1.keep_last)
        self.loaded = self.manager.load_newest(kind, cfg) if resume else None
        self.step = int(self.loaded[0]["step"]) if self.loaded else 0
        resume_step = self.step if self.loaded else None
        self.log = self.val = None
        if info.is_main:
            self.log = CSVLogger(self.dir / log_name, columns, resume_step)
            self.val = CSVLogger(self.dir / val_name, val_columns, resume_step)
        self.t0 = time.perf_counter()
        self.t_last, self.step_last = self.t0, self.step

    def rate(self, step):
        now = time.perf_counter()
        r = (step - self.step_last) / max(now - self.t_last, 1e-9)
        self.t_last, self.step_last = now, step
        return r

    def save(self, state, step, modules):
        if not _all_finite(*modules):  # never overwrite the last good checkpoint with NaNs
            raise NonFiniteLossError(f"parameters became non-finite before step {step}; the last "
                                     f"good checkpoint is {self.manager.latest()}")
        if self.info.is_main:
            state = {**checkpoint_header(self.kind, self.cfg, step), **state,
                     "rng": capture_rng_state()}
            self.manager.save(state, step)
        if self.info.enabled:
            torch.distributed.barrier()

    def result(self, total: int) -> dict[str, Any]:
        """Step count, speed, time and newest checkpoint: what every Stage-I run returns.

        ``steps_run`` and the speed count only the steps of this call, not those resumed from.
        """
        done = total - (int(self.loaded[0]["step"]) if self.loaded else 0)
        elapsed = time.perf_counter() - self.t0
        return {"step": total, "steps_run": done, "steps_per_s": done / max(elapsed, 1e-9),
                "seconds": elapsed, "checkpoint": self.manager.latest()}

    def close(self):
        for lg in (self.log, self.val):
            if lg is not None:
                lg.close()


def _mean_over_ranks(t: torch.Tensor, info) -> None:
    if info.enabled:
        torch.distributed.all_reduce(t)
        t /= info.world_size


def _wrap_ddp(module, info, dev):
    if not info.enabled:
        return module
    return nn.parallel.DistributedDataParallel(
        module, device_ids=[dev.index] if dev.type == "cuda" else None)


# --------------------------------------------------------------------------------------------
# The image model
# --------------------------------------------------------------------------------------------


# The paper's step -------------------------------------------------------------------------


@dataclass
class Stage1Nets:
    """The networks one Stage-I step uses, wrapped as the trainer runs them (DDP, compile)."""

    reconstruct: nn.Module  # x̂ = G(E(x), h): encoder + generator (the "G" being trained)
    critic: nn.Module  # D as the D step trains it
    critic_for_g: nn.Module  # D as G's loss sees it: held fixed, so never DDP-wrapped
    disc_batching: str = "separate"  # "separate" real/fake BN batches (Market) | "joint" (DF, orig B10)


def critic_logits(disc, real, fake, batching, fake_only=False):
    """D's logits on real and fake images: two BN batches ("separate") or one ("joint", orig B10).

    With ``fake_only`` (G's loss) "separate" skips the real batch; "joint" still runs D on real
    and fake together and returns the fake slice, as G's loss does in the original graph.
    """
    if batching == "joint":
        logits = disc(torch.cat([real, fake], dim=0))
        real_logits, fake_logits = logits[: real.shape[0]], logits[real.shape[0]:]
    else:
        real_logits, fake_logits = (None if fake_only else disc(real)), disc(fake)
    return fake_logits if fake_only else (real_logits, fake_logits)


def generator_step(nets: Stage1Nets, batches, opt: "Update", lambda_l1: float):
    """min over E, G of  L_G = CE(D(x̂), 1) + λ_L1 · mean|x̂ − x|,  D held fixed (orig §3.6)."""
    fakes, logs = [], []
    opt.zero_grad()
    with frozen(nets.critic_for_g):
        for b in batches:
            x = b["image"]
            with opt.forward():
                x_hat = nets.reconstruct(b["image"], b["boxes"], b["box_vis"], b["heatmap"],
                                         b["mask"])
                logits_fake = critic_logits(nets.critic_for_g, x, x_hat, nets.disc_batching,
                                            fake_only=True)
            loss = losses.stage1_generator_loss(logits_fake.float(), x_hat.float(), x, lambda_l1)
            opt.backward(loss.total)
            fakes.append(x_hat.detach().float())
            # the pose-masked L1 is logged, never optimised (orig B8)
            logs.append(torch.stack([loss.adv.detach(), loss.l1.detach(), loss.total.detach(),
                                     losses.masked_l1(fakes[-1], x, b["mask"])]))
    opt.step()
    return fakes, sum(t / len(batches) for t in logs)


def discriminator_step(nets: Stage1Nets, batches, fakes, opt: "Update") -> torch.Tensor:
    """min over D of  L_D = ½ [CE(D(x), 1) + CE(D(x̂), 0)],  x̂ the fakes G just made (orig §3.6)."""
    logs = []
    opt.zero_grad()
    for b, x_hat in zip(batches, fakes):
        with opt.forward():
            logits_real, logits_fake = critic_logits(nets.critic, b["image"], x_hat,
                                                     nets.disc_batching)
        loss = losses.stage1_discriminator_loss(logits_real.float(), logits_fake.float())
        opt.backward(loss)
        logs.append(loss.detach())
    opt.step()
    return sum(t / len(batches) for t in logs)


def stage1_step(nets: Stage1Nets, batches, opt_g: "Update", opt_d: "Update",
                lambda_l1: float, update_g: bool = True) -> dict[str, torch.Tensor]:
    """One Stage-I iteration: a G step, then a D step on the same images (orig §3.6, orig B11).

    ``batches`` is the iteration's list of micro-batches (one unless gradients accumulate). The
    very first iteration updates D only, as the original trainer does (trainer.py:336-366).
    Returns the iteration's losses (detached): ``d_loss`` and, after a G step, ``g`` =
    (adversarial, L1, total, pose-masked L1).
    """
    if update_g:
        fakes, g = generator_step(nets, batches, opt_g, lambda_l1)
    else:
        with torch.no_grad(), opt_g.amp.autocast():
            fakes = [nets.reconstruct(b["image"], b["boxes"], b["box_vis"], b["heatmap"],
                                      b["mask"]).float() for b in batches]
        g = None
    return {"d_loss": discriminator_step(nets, batches, fakes, opt_d), "g": g}


# The engineering around it ------------------------------------------------------------------


class Update:
    """One network's update in an iteration, with what the paper leaves out: gradients averaged
    over micro-batches, AMP autocast and loss scaling, DDP's all-reduce only on the last
    micro-batch, and the optimiser step."""

    def __init__(self, net: nn.Module, optimizer, scaler, amp, accum: int = 1):
        self.net, self.optimizer, self.scaler, self.amp = net, optimizer, scaler, amp
        self.accum, self._i = accum, 0

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._i = 0

    def forward(self):
        """Context for one micro-batch's forward: autocast, and no DDP sync but on the last."""
        stack = contextlib.ExitStack()
        stack.enter_context(_no_sync(self.net, self._i < self.accum - 1))
        stack.enter_context(self.amp.autocast())
        self._i += 1
        return stack

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss / self.accum).backward()

    def step(self) -> None:
        self.scaler.step(self.optimizer)
        self.scaler.update()


@contextlib.contextmanager
def frozen(module: nn.Module):
    """No gradients for ``module``'s parameters inside (D during the G step)."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)


def _train_image(cfg, data_root, out_dir, dev, info, resume, max_steps, progress):
    s1 = cfg.stage1
    seed_everything(cfg.seed)  # identical initial weights on every rank
    configure_backends(dev)
    model = Stage1Model(cfg.model).to(dev)
    amp = amp_settings(dev, s1.amp)
    fast, note = resolve_stage1_compile(s1.compile, dev, amp.precision, info.enabled)
    if info.is_main:
        if note:
            print(f"note: {note}", file=sys.stderr)
        record_resolved(out_dir, stage1_precision=amp.precision, stage1_compile=fast)
    # channels-last: tensor-core layout on CUDA; on CPU oneDNN's convolutions are faster in it
    # too (synth-tiny batch 8: 0.105 -> 0.090 s/step on 2 cores, docs/presets.md)
    channels_last = s1.channels_last and dev.type in ("cuda", "cpu")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    rec = Reconstructor(model)
    opt_g, sched_g = _adam_and_schedule(rec.parameters(), s1.lr, s1)
    opt_d, sched_d = _adam_and_schedule(model.discriminator.parameters(), s1.lr, s1)
    scaler_g, scaler_d = amp.grad_scaler(), amp.grad_scaler()
    run = _Run(cfg, out_dir, "stage1", "checkpoints", "log.csv", LOG_COLUMNS, "val.csv",
               VAL_COLUMNS, info, resume)
    if run.loaded:
        ck = run.loaded[0]
        model.load_state_dict(ck["model"])
        for obj, key in ((opt_g, "opt_g"), (opt_d, "opt_d"), (sched_g, "sched_g"),
                         (sched_d, "sched_d"), (scaler_g, "scaler_g"), (scaler_d, "scaler_d")):
            obj.load_state_dict(ck[key])
        restore_rng_state(ck["rng"])
    nets = Stage1Nets(_wrap_ddp(rec, info, dev), _wrap_ddp(model.discriminator, info, dev),
                      model.discriminator, cfg.model.disc_batching)
    if fast == "default":
        nets = Stage1Nets(torch.compile(nets.reconstruct), torch.compile(nets.critic),
                          torch.compile(nets.critic_for_g), nets.disc_batching)
    accum = s1.grad_accum
    step_amp = replace(amp, cache=False) if fast == "graphs" else amp
    update_g = Update(nets.reconstruct, opt_g, scaler_g, step_amp, accum)
    update_d = Update(nets.critic, opt_d, scaler_d, step_amp, accum)
    # "graphs": every step after the first (D only) replays one captured CUDA graph
    graphed = StaticStep(lambda bs: stage1_step(nets, bs, update_g, update_d, s1.lambda_l1),
                         [opt_g, opt_d], capture=True) if fast == "graphs" else None

    train = PersonDataset(data_root, "train", cfg.data, flip=False)
    order = BatchOrder(len(train), s1.batch_size, cfg.seed, info.rank, info.world_size,
                       flip=cfg.data.flip)
    loader = torch.utils.data.DataLoader(
        _FlipIndexed(train), batch_sampler=_Stream(order, run.step * accum),
        num_workers=resolve_num_workers(cfg.data.num_workers, dev), pin_memory=dev.type == "cuda")
    batches = iter(loader)
    fixed = _fixed_batches(cfg, data_root, train, dev)

    def prep(batch):
        b = prepare_batch(batch, cfg.data, dev)
        if channels_last:
            for k in ("image", "heatmap", "mask"):
                b[k] = b[k].contiguous(memory_format=torch.channels_last)
        return b

    total = s1.steps if max_steps is None else min(s1.steps, int(max_steps))
    names = ["d_loss", "g_adv", "g_l1", "g_total", "masked_l1"]
    acc = torch.zeros(len(names), device=dev)  # sums since the last log row, on the device
    n_acc = torch.zeros(2, device=dev)  # (iterations with a D update, with a G update)
    if run.loaded and "log_acc" in run.loaded[0]:  # a checkpoint inside a log interval
        acc.copy_(run.loaded[0]["log_acc"])
        n_acc.copy_(run.loaded[0]["log_count"])
    bar = _progress(progress and info.is_main, run.step, total, "Stage-I image")
    last = {}
    try:
        for it in range(run.step, total):
            lr = opt_g.param_groups[0]["lr"]
            micro = [prep(next(batches)) for _ in range(accum)]
            if graphed is not None and it > 0:
                out = graphed(micro)
            else:
                out = stage1_step(nets, micro, update_g, update_d, s1.lambda_l1, update_g=it > 0)
            if out["g"] is not None:
                acc[1:] += out["g"]
                n_acc[1] += 1
            acc[0] += out["d_loss"]
            n_acc[0] += 1
            with warnings.catch_warnings():
                # step 0 has no G update; G's lr still follows the global step (orig §3.6)
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                sched_g.step()
            sched_d.step()
            step = it + 1
            at_log = step % s1.log_every == 0 or step == total
            at_ckpt = step % s1.checkpoint_every == 0 or step == total
            if at_log or at_ckpt:
                _mean_over_ranks(acc, info)  # logged losses are global means; NaN seen by all
                counts = n_acc.tolist()
                vals = (acc.cpu() / torch.tensor([max(counts[0], 1)] + [max(counts[1], 1)] * 4))
                row = dict(zip(names, vals.tolist()))
                if counts[1] == 0:  # only the D-only step 0 in this interval
                    row.update({k: float("nan") for k in names[1:]})
                check_finite({k: row[k] for k in names if counts[1] or k == "d_loss"}, step,
                             f"the last good checkpoint is {run.manager.latest()}")
                last = row
                if at_log:
                    row.update(step=step, time=round(time.perf_counter() - run.t0, 3), lr=lr,
                               steps_per_s=run.rate(step))
                    if run.log:
                        run.log.log(row)
                    bar.set_postfix(d=f"{row['d_loss']:.3f}", l1=f"{row['g_l1']:.3f}")
                    acc.zero_()
                    n_acc.zero_()
            if info.is_main and (step % s1.sample_every == 0 or step == total):
                _save_samples(model, fixed, run.dir / "samples" / f"step_{step:06d}.png", amp)
            if step % s1.val_every == 0 or step == total:
                if info.is_main:
                    last["val"] = _validate(model, fixed, step, run.val, amp)
            if at_ckpt:
                run.save({"model": model.state_dict(), "opt_g": opt_g.state_dict(),
                          "opt_d": opt_d.state_dict(), "sched_g": sched_g.state_dict(),
                          "sched_d": sched_d.state_dict(), "scaler_g": scaler_g.state_dict(),
                          "scaler_d": scaler_d.state_dict(),
                          # partial sums of the current log row, so a resumed row is exact too
                          "log_acc": acc.cpu(), "log_count": n_acc.cpu()}, step, [model])
            bar.update(1)
    finally:
        bar.close()
        run.close()
    return {**{k: v for k, v in last.items() if k in names}, "val": last.get("val"),
            "precision": amp.precision, **run.result(total), "log": str(run.dir / "log.csv"),
            "samples": str(run.dir / "samples"), "model": model}


def _no_sync(net, skip: bool):
    if skip and hasattr(net, "no_sync"):
        return net.no_sync()
    return contextlib.nullcontext()


def _progress(enabled, start, total, desc):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=start, desc=desc, disable=not enabled, leave=False)


def _fixed_batches(cfg, data_root, train, dev):
    """8 unflipped training images (evenly spaced) for sample grids and ``val_images`` held-out test images."""
    out = {"sample": spread_batch(train, spread_indices(len(train), 8), cfg.data, dev), "val": None}
    test = _held_out_split(data_root, cfg, lambda: PersonDataset(data_root, "test", cfg.data,
                                                                 flip=False))
    if test is None:
        return out
    k = min(cfg.stage1.val_images, len(test))
    if k > 0:
        idx = spread_indices(len(test), k)
        out["val"] = [spread_batch(test, chunk, cfg.data, dev)
                      for chunk in np.array_split(idx, max(1, len(idx) // 32))]
    return out


def _held_out_split(data_root, cfg, load):
    """``load()`` the test split for validation, or None when the dataset has no test split.

    A dataset without one (no ``test/`` folder, no test annotation CSV) trains without validation
    rows, after a one-line note; a test split that is there but broken raises its
    :class:`DatasetError`, which names the file.
    """
    root = Path(data_root)
    if not (root / "test").exists() and not any(root.glob("*annotation-test.csv")):
        print(f"note: {root} has no test split; training without validation", file=sys.stderr)
        return None
    return load()


@torch.no_grad()
def _save_samples(model, fixed, path, amp):
    b = fixed["sample"]
    with eval_mode(model), amp.autocast():
        rec = model.reconstruct(b["image"], b["boxes"], b["box_vis"], b["heatmap"], b["mask"])
    # row 1: inputs, row 2: reconstructions
    save_image_grid(torch.cat([b["image"], rec.float()]), path, nrow=b["image"].shape[0])


@torch.no_grad()
def _validate(model, fixed, step, logger, amp):
    if fixed["val"] is None:
        return None
    l1, ssim, n = 0.0, 0.0, 0
    for b in fixed["val"]:
        with eval_mode(model), amp.autocast():
            rec = model.reconstruct(b["image"], b["boxes"], b["box_vis"], b["heatmap"],
                                    b["mask"]).float()
        # scored in fp32 outside autocast: SSIM's variances (E[x²] − E[x]²) lose every digit
        # in bf16 convolutions
        l1 += (rec - b["image"]).abs().mean(dim=(1, 2, 3)).sum().item()
        ssim += reconstruction_ssim(b["image"], rec).sum().item()
        n += b["image"].shape[0]
    row = {"step": step, "val_l1": l1 / n, "val_ssim": ssim / n, "images": n}
    if logger:
        logger.log(row)
    return row


# --------------------------------------------------------------------------------------------
# The pose auto-encoder
# --------------------------------------------------------------------------------------------


def _annotated_poses(data_root, split, cfg) -> torch.Tensor:
    files = find_dataset_files(data_root, split, cfg.data.dataset)
    rcvs = [r for r in read_annotation_csv(files.annotation).values() if not is_all_missing(r)]
    return torch.from_numpy(np.stack(rcvs)) if rcvs else torch.zeros(0, 18, 3)


def _train_pose(cfg, data_root, out_dir, dev, info, resume, max_steps, progress):
    s1 = cfg.stage1
    size = cfg.data.image_size
    seed_everything(cfg.seed + 1)  # a different init stream from the image model
    pae = PoseAutoEncoder(cfg.model).to(dev)
    opt, sched = _adam_and_schedule(pae.parameters(), s1.pose_ae_lr, s1)
    run = _Run(cfg, out_dir, "pose", "pose_checkpoints", "pose_log.csv", POSE_LOG_COLUMNS,
               "pose_val.csv", POSE_VAL_COLUMNS, info, resume)
    if run.loaded:
        ck = run.loaded[0]
        pae.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        restore_rng_state(ck["rng"])
    net = _wrap_ddp(_PoseRoundTrip(pae), info, dev)
    # keypoints only: the whole annotation table lives on the device (no image is read)
    poses = _annotated_poses(data_root, "train", cfg).to(dev)
    val_poses = _held_out_split(data_root, cfg, lambda: normalize_rcv(
        _annotated_poses(data_root, "test", cfg).to(dev), size))
    order = BatchOrder(len(poses), s1.pose_ae_batch_size, cfg.seed, info.rank, info.world_size,
                       flip=cfg.data.flip)
    total = s1.pose_ae_steps if max_steps is None else min(s1.pose_ae_steps, int(max_steps))
    acc = torch.zeros((), device=dev)
    n_acc, last = 0, {}
    if run.loaded and "log_acc" in run.loaded[0]:  # a checkpoint inside a log interval
        acc.copy_(run.loaded[0]["log_acc"])
        n_acc = int(run.loaded[0]["log_count"])
    bar = _progress(progress and info.is_main, run.step, total, "Stage-I pose AE")
    try:
        for it in range(run.step, total):
            lr = opt.param_groups[0]["lr"]
            opt.zero_grad(set_to_none=True)
            for i in range(s1.grad_accum):
                idx, flips = order.batch(it * s1.grad_accum + i)
                rcv = poses[idx.to(dev)]
                flips = flips.to(dev)[:, None, None]
                rcv = torch.where(flips, flip_rcv(rcv, size[1]), rcv)
                target = normalize_rcv(rcv, size)  # (B, 54)
                with _no_sync(net, i < s1.grad_accum - 1):
                    pred = net(target)  # (B, 54)
                    loss = losses.pose_ae_loss(pred, target, s1.lambda_pose)
                    (loss / s1.grad_accum).backward()
                acc += loss.detach() / s1.grad_accum
            opt.step()
            sched.step()
            n_acc += 1
            step = it + 1
            at_log = step % s1.log_every == 0 or step == total
            at_ckpt = step % s1.checkpoint_every == 0 or step == total
            if at_log or at_ckpt:
                _mean_over_ranks(acc, info)
                value = acc.item() / n_acc
                check_finite({"pose_loss": value}, step,
                             f"the last good checkpoint is {run.manager.latest()}")
                last["pose_loss"] = value
                if at_log:
                    if run.log:
                        run.log.log({"step": step, "time": round(time.perf_counter() - run.t0, 3),
                                     "lr": lr, "pose_loss": value, "steps_per_s": run.rate(step)})
                    bar.set_postfix(loss=f"{value:.4f}")
                    acc.zero_()
                    n_acc = 0
            if info.is_main and val_poses is not None and len(val_poses) and (
                    step % s1.val_every == 0 or step == total):
                with torch.no_grad(), eval_mode(pae):
                    v = losses.pose_ae_loss(_PoseRoundTrip(pae)(val_poses), val_poses,
                                            s1.lambda_pose).item()
                last["val_pose_loss"] = v
                run.val.log({"step": step, "val_pose_loss": v, "poses": len(val_poses)})
            if at_ckpt:
                run.save({"model": pae.state_dict(), "opt": opt.state_dict(),
                          "sched": sched.state_dict(), "log_acc": acc.cpu(),
                          "log_count": n_acc}, step, [pae])
            bar.update(1)
    finally:
        bar.close()
        run.close()
    return {**last, **run.result(total), "log": str(run.dir / "pose_log.csv"), "model": pae}


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def train_stage1(cfg: RunConfig, data_root: str | os.PathLike, out_dir: str | os.PathLike,
                 device: str = "auto", model: str = "image", resume: bool = True,
                 max_steps: int | None = None, progress: bool = True,
                 distributed: bool = False) -> dict[str, Any]:
    """Train a Stage-I model into ``out_dir/stage1`` (or continue it), orig §3.6-3.7.

    Args:
        cfg: the run config (``cfg.stage1`` for steps, batch sizes, lr, intervals).
        data_root: dataset root (``train/``, ``test/`` and the CSVs).
        out_dir: the run directory; writes ``stage1/log.csv``, ``stage1/val.csv``,
            ``stage1/samples/step_XXXXXX.png`` and ``stage1/checkpoints/`` (image) or
            ``stage1/pose_log.csv``, ``stage1/pose_val.csv``, ``stage1/pose_checkpoints/`` (pose).
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"mps"``.
        model: ``"image"`` (encoder + generator + D) or ``"pose"`` (pose auto-encoder).
        resume: continue from the newest good checkpoint if there is one (bit-exact).
        max_steps: stop after this many total steps (≤ the config's), e.g. to split a run.
        progress: show a tqdm bar.
        distributed: use a process group even without ``torchrun`` (see
            :func:`dpiglib.core.runtime.init_distributed`); under ``torchrun`` DDP is automatic.

    Returns:
        dict with the last logged losses, ``val`` scores, ``step``, ``steps_run``,
        ``steps_per_s``, ``seconds``, paths (``checkpoint``, ``log``) and the trained ``model``.

    Raises:
        NonFiniteLossError: a loss or parameter became NaN/inf (the last good checkpoint stays).
        CheckpointError: an existing checkpoint is of another architecture, or cannot be written.
    """
    if model not in ("image", "pose"):
        raise ValueError(f"model must be 'image' or 'pose', got {model!r}")
    import torch.distributed as dist
    owned = not (dist.is_available() and dist.is_initialized())
    info, dev = init_distributed(distributed, device)
    fn = _train_image if model == "image" else _train_pose
    try:
        result = fn(cfg, data_root, out_dir, dev, info, resume, max_steps, progress)
    except BaseException:
        if info.enabled and owned:
            cleanup_distributed(synchronize=False)  # a failed peer may never reach a barrier
        raise
    if info.enabled and owned:
        cleanup_distributed()
    return result


def load_stage1(run_dir_or_ckpt: str | os.PathLike, device: str | torch.device = "cpu"
                ) -> tuple[Stage1Model, PoseAutoEncoder | None, RunConfig]:
    """Load trained Stage-I models for sampling, evaluation or notebooks (eval mode).

    Args:
        run_dir_or_ckpt: a run directory (uses ``stage1/checkpoints`` and
            ``stage1/pose_checkpoints``), or a ``stage1`` checkpoint file (the pose auto-encoder
            is then looked for in the sibling ``pose_checkpoints`` folder).
        device: where to put the models.

    Returns:
        ``(image model, pose auto-encoder or None if none was trained, config)``.

    Raises:
        CheckpointError: no Stage-I image checkpoint found, or an unreadable one.
    """
    from dpiglib.core.runtime import resolve_device
    dev = resolve_device(device)
    ck, _, ck_dir = load_run_checkpoint(run_dir_or_ckpt, "stage1", "stage1", "Stage-I")
    pose_dir = ck_dir.parent / "pose_checkpoints"
    cfg = config_from_dict(ck["config"])
    model = Stage1Model(cfg.model)
    model.load_state_dict(ck["model"])
    model.to(dev).eval()
    pae = None
    found = CheckpointManager(pose_dir).load_newest("pose", cfg) if pose_dir.is_dir() else None
    if found is not None:
        pae = PoseAutoEncoder(cfg.model)
        pae.load_state_dict(found[0]["model"])
        pae.to(dev).eval()
    return model, pae, cfg
