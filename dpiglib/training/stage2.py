"""Stage-II: mapping networks Φ that turn Gaussian noise into Stage-I embeddings (orig §4).

One Φ/critic pair per factor: Market ``fg``, ``bg``, ``pose``; DeepFashion ``app`` (the whole
224-d appearance, orig B3: the intended model-3 loop with a single Φ) and ``pose``. The Stage-I encoders
are frozen and restored from the run's Stage-I checkpoints; real embeddings are the encoder's
outputs with the same visibility-gated encoder as Stage-I (orig B4), the DF ROI size 64 (orig B5, in the
config) and, for pose, the *trained* pose auto-encoder (orig B2; never a random one).

Objective (orig §4.3, orig B12): ``"wgan-clip"`` (original) = WGAN with RMSProp(lr) for Φ and critic,
every critic parameter clipped to ±``clip`` after each critic step; ``"wgan-gp"`` = Adam(lr,
(β1, β2)) plus λ·mean((‖∇f(x̂)‖ − 1)²) at interpolates. L_critic = mean f(Φ(z)) − mean f(e_real),
L_Φ = −mean f(Φ(z)), z ~ N(0, σ²) of the embedding's dimension (orig B13). Per step and factor: one
Φ update (skipped at step 0), then ``critic_steps`` critic updates, each on a fresh real batch and
fresh noise. lr × 0.5 every ``lr_halve_every`` steps.

Deviations (stated): (1) the original trained appearance (model 3) and pose (model 4) as two
runs; here one loop trains every factor, each for its own step count (``steps`` /
``pose_steps``) and batch size, with its own noise generator and data order, so a factor's
training does not depend on which others run beside it. (2) Real embeddings are computed once
per Stage-I checkpoint and cached in ``stage2/embeddings.pt`` (both flips of every training
image; both flips of every annotated pose); batches are drawn from that table. The original
re-encoded a freshly dequeued image batch each ``sess.run``; with a frozen, deterministic encoder
the distribution sampled is the same. (3) fp32, one process;
on CPU the loop runs with one intra-op thread (tiny FC layers; see ``train_stage2``).
``wgan-clip``'s RMSProp is TF's own (:class:`dpiglib.training.optim.TFRMSprop`: ε inside the square root,
mean square starting at 1), not ``torch.optim.RMSprop``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from dpiglib.models import losses
from dpiglib.core.checkpoint import (CheckpointError, CheckpointManager, checkpoint_header,
                                     load_run_checkpoint)
from dpiglib.config import RunConfig, Stage2Config, architecture_fingerprint, config_from_dict
from dpiglib.training.embedding_check import STAT_NAMES, distribution_check, embedding_statistics
from dpiglib.training.embeddings import (APPEARANCE_FACTORS, cached_embeddings, example_batch,
                                         needed_fingerprint, real_embeddings, sample_factor_images,
                                         stage1_fingerprint)
from dpiglib.core.fileio import atomic_write_json
from dpiglib.models.stage2 import Stage2Model, build_stage2_model
from dpiglib.models.mapping import factor_dims, sample_noise
from dpiglib.training.optim import TFRMSprop
from dpiglib.core.runlog import CSVLogger, NonFiniteLossError, check_finite
from dpiglib.core.runtime import BatchOrder, capture_rng_state, resolve_device, restore_rng_state

__all__ = ["Stage2Model", "build_stage2_model", "FactorTrainer", "train_stage2", "load_stage2",
           "factor_dims", "stage1_fingerprint", "real_embeddings", "distribution_check",
           "embedding_statistics", "embedding_check_samples", "example_batch",
           "sample_factor_images", "distribution_frame", "DIST_COLUMNS", "APPEARANCE_FACTORS"]
_SEED_OFFSET = {"fg": 11, "bg": 12, "app": 13, "pose": 14}  # one noise/data stream per factor
DIST_COLUMNS = ["step", "factor", "phi", *STAT_NAMES, "n_real", "n_fake"]


# --------------------------------------------------------------------------------------------
# One factor's training step
# --------------------------------------------------------------------------------------------


class FactorTrainer:
    """Φ and critic of one factor with their optimisers, schedules, noise RNG and data order.

    Args:
        name: factor name (seeds its own streams).
        phi, critic: the factor's networks (on the training device).
        real: (N, D) real embeddings on the training device.
        s2: the Stage-II config (objective, lr, clip, critic_steps, GP settings, lr halving).
        batch_size: this factor's batch size.
        seed: the run seed.
    """

    def __init__(self, name: str, phi: nn.Module, critic: nn.Module, real: torch.Tensor,
                 s2: Stage2Config, batch_size: int, seed: int = 0):
        if s2.objective not in ("wgan-clip", "wgan-gp"):
            raise ValueError(f"stage2 objective must be wgan-clip or wgan-gp, got {s2.objective!r}")
        self.name, self.phi, self.critic, self.real, self.s2 = name, phi, critic, real, s2
        self.batch_size = batch_size
        self.noise_std = s2.noise_std
        self.opt_phi, self.opt_critic = self._optimiser(phi), self._optimiser(critic)
        every = s2.lr_halve_every
        self.sched_phi, self.sched_critic = (
            torch.optim.lr_scheduler.StepLR(o, step_size=every if every > 0 else 1,
                                            gamma=0.5 if every > 0 else 1.0)
            for o in (self.opt_phi, self.opt_critic))
        stream = int(seed) * 1_000_003 + _SEED_OFFSET.get(name, 17)
        self.gen = torch.Generator().manual_seed(stream)
        if len(real) < batch_size:
            raise ValueError(f"factor {name!r}: {len(real)} real embeddings, fewer than one batch "
                             f"of {batch_size}; lower stage2 batch_size or use more data")
        self.order = BatchOrder(len(real), batch_size, stream, flip=False)

    def _optimiser(self, module: nn.Module) -> torch.optim.Optimizer:
        if self.s2.objective == "wgan-clip":  # tf.train.RMSPropOptimizer(lr), TF1 defaults
            return TFRMSprop(module.parameters(), lr=self.s2.lr)  # (trainer.py:118-128)
        return torch.optim.Adam(module.parameters(), lr=self.s2.lr,
                                betas=(self.s2.gp_beta1, self.s2.gp_beta2))

    def _noise(self) -> torch.Tensor:
        return sample_noise(self.batch_size, self.real.shape[1], self.noise_std,
                            self.gen).to(self.real.device)

    def phi_step(self) -> torch.Tensor:
        """One Φ update: minimise −mean f(Φ(z)). Returns the loss (detached)."""
        self.critic.requires_grad_(False)
        self.opt_phi.zero_grad(set_to_none=True)
        loss = losses.wgan_generator_loss(self.critic(self.phi(self._noise())))
        loss.backward()
        self.opt_phi.step()
        self.critic.requires_grad_(True)
        return loss.detach()

    def critic_step(self, position: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One critic update on real batch ``position`` of this factor's data order.

        Returns ``(critic loss incl. penalty, Wasserstein estimate mean f(real) − mean f(fake),
        gradient penalty or 0)``, detached.
        """
        idx, _ = self.order.batch(position)
        real = self.real[idx.to(self.real.device)]
        with torch.no_grad():
            fake = self.phi(self._noise())
        self.opt_critic.zero_grad(set_to_none=True)
        base = losses.wgan_critic_loss(self.critic(real), self.critic(fake))
        gp = torch.zeros((), device=real.device)
        if self.s2.objective == "wgan-gp":
            gp = losses.gradient_penalty(self.critic, real, fake, generator=self.gen,
                                         weight=self.s2.gp_lambda)
        (base + gp).backward()
        self.opt_critic.step()
        if self.s2.objective == "wgan-clip":  # after every critic step (trainer.py:124-128)
            losses.clip_weights_(self.critic, self.s2.clip)
        return (base + gp).detach(), -base.detach(), gp.detach()

    def step(self, it: int) -> dict[str, torch.Tensor]:
        """Training step ``it`` (0-based): Φ update unless ``it == 0``, then ``critic_steps``
        critic updates (trainer.py:821-867). Returns the step's mean losses (detached, on device).
        """
        phi = self.phi_step() if it > 0 else None
        c = [self.critic_step(it * self.s2.critic_steps + k) for k in range(self.s2.critic_steps)]
        with warnings.catch_warnings():
            # step 0 has no Φ update; Φ's lr still follows the global step (orig §4.3)
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.sched_phi.step()
        self.sched_critic.step()
        out = {"critic": torch.stack([x[0] for x in c]).mean(),
               "wdist": torch.stack([x[1] for x in c]).mean(),
               "gp": torch.stack([x[2] for x in c]).mean()}
        if phi is not None:
            out["phi"] = phi
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"opt_phi": self.opt_phi.state_dict(), "opt_critic": self.opt_critic.state_dict(),
                "sched_phi": self.sched_phi.state_dict(),
                "sched_critic": self.sched_critic.state_dict(), "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt_phi.load_state_dict(state["opt_phi"])
        self.opt_critic.load_state_dict(state["opt_critic"])
        self.sched_phi.load_state_dict(state["sched_phi"])
        self.sched_critic.load_state_dict(state["sched_critic"])
        self.gen.set_state(state["gen"])


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def _log_columns(factors, objective):
    cols = ["step", "time", "lr"]
    for f in factors:
        cols += [f"{f}/critic", f"{f}/wdist", f"{f}/phi"] + ([f"{f}/gp"] if objective == "wgan-gp" else [])
    return cols + ["steps_per_s"]


def _factor_steps(cfg: RunConfig, f: str) -> tuple[int, int]:
    s2 = cfg.stage2
    return (s2.pose_steps, s2.pose_batch_size) if f == "pose" else (s2.steps, s2.batch_size)


def _load_stage1_for(cfg, stage1_run, factors, dev):
    from dpiglib.training.stage1 import load_stage1
    try:
        s1_model, pae, s1_cfg = load_stage1(stage1_run, dev)
    except CheckpointError as exc:
        raise CheckpointError(f"Stage-II needs a trained Stage-I: {exc}") from exc
    if architecture_fingerprint(s1_cfg) != architecture_fingerprint(cfg):
        diff = [k for k, v in architecture_fingerprint(cfg).items()
                if architecture_fingerprint(s1_cfg).get(k) != v]
        raise CheckpointError(f"the Stage-I checkpoint in {stage1_run} has another architecture "
                              f"(model fields {diff}); use the config it was trained with")
    if "pose" in factors and pae is None:
        raise CheckpointError(
            f"no trained pose auto-encoder under {stage1_run} (stage1/pose_checkpoints); train it "
            "with train_stage1(..., model='pose') first: Stage-II pose is always trained against "
            "the trained pose AE (orig B2), never a randomly initialised one")
    for m in (s1_model, pae):
        if m is not None:
            m.requires_grad_(False)  # frozen (trainer.py:807-810)
    return s1_model, pae


def train_stage2(cfg: RunConfig, data_root: str | os.PathLike, out_dir: str | os.PathLike,
                 device: str = "auto", factors: Sequence[str] | None = None, resume: bool = True,
                 max_steps: int | None = None, progress: bool = True,
                 stage1_run: str | os.PathLike | None = None,
                 cache_embeddings: bool = True) -> dict[str, Any]:
    """Train the Stage-II mapping networks into ``out_dir/stage2`` (or continue them), orig §4.3.

    Args:
        cfg: run config (``cfg.stage2``: objective, steps, batch sizes, lr, intervals).
        data_root: dataset root (the training split is encoded).
        out_dir: run directory. Writes ``stage2/log.csv`` (per factor ``critic``, ``wdist``,
            ``phi`` [, ``gp``]), ``stage2/distribution.csv`` (statistics of Φ(z) vs real at step 0 =
            Φ at init and at every checkpoint), ``stage2/checkpoints/``, ``stage2/embeddings.pt``
            and ``stage2/summary.json``.
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"mps"``.
        factors: subset of fg/bg/pose (DF: app/pose); default all.
        resume: continue from the newest checkpoint (bit-exact); a finished run just reloads.
        max_steps: stop after this many total steps (≤ the longest factor's steps).
        progress: tqdm bar.
        stage1_run: where the Stage-I checkpoints are (default ``out_dir``).
        cache_embeddings: keep the real-embedding table on disk (recomputed when the Stage-I
            weights, data root, flips or factors change).

    Returns:
        dict with ``step``, ``steps_run``, ``seconds``, ``steps_per_s``, last losses per factor
        (``"fg/critic"`` …), ``stats`` and ``stats_init`` (factor → statistics), paths
        (``checkpoint``, ``log``, ``distribution``, ``summary``), ``model`` (:class:`Stage2Model`,
        eval mode), ``real`` (factor → real embeddings) and ``stage1_fingerprint``.

    Raises:
        CheckpointError: no Stage-I (or no pose AE for the pose factor), a Stage-II checkpoint
            trained against other Stage-I weights, other factors or another architecture.
        NonFiniteLossError: a loss became NaN/inf (the last good checkpoint stays).
    """
    s2 = cfg.stage2
    dev = resolve_device(device)
    out = Path(out_dir)
    sdir = out / "stage2"
    factors = list(factor_dims(cfg.model)) if factors is None else list(factors)
    s1_model, pae = _load_stage1_for(cfg, Path(stage1_run or out), factors, dev)
    fp = needed_fingerprint(stage1_fingerprint(s1_model, pae if "pose" in factors else None), factors)

    # Real embeddings: encoded once per Stage-I checkpoint (module docstring, deviation 2).
    key = {"stage1_fingerprint": fp, "data_root": str(Path(data_root).resolve()),
           "flip": bool(cfg.data.flip), "factors": sorted(factors)}
    compute = lambda: real_embeddings(s1_model, pae, cfg, data_root, factors, dev,  # noqa: E731
                                      progress=progress)
    real = (cached_embeddings(sdir / "embeddings.pt", key, compute) if cache_embeddings
            else compute())

    model = build_stage2_model(cfg, factors).to(dev)
    manager = CheckpointManager(sdir / "checkpoints", s2.keep_last)
    loaded = manager.load_newest("stage2", cfg) if resume else None
    trainers = {f: FactorTrainer(f, model.phi[f], model.critic[f], real[f].to(dev), s2,
                                 _factor_steps(cfg, f)[1], cfg.seed) for f in factors}
    step, init_stats = 0, None
    if loaded:
        ck, path = loaded
        _check_stage1(ck, fp, path)
        if list(ck["factors"]) != factors:
            raise CheckpointError(f"Stage-II checkpoint {path} trained factors {ck['factors']}, "
                                  f"not {factors}; pass factors={ck['factors']} or resume=False")
        model.load_state_dict(ck["model"])
        for f in factors:
            trainers[f].load_state_dict(ck["trainers"][f])
        restore_rng_state(ck["rng"])
        step, init_stats = int(ck["step"]), ck.get("init_stats")
    log = CSVLogger(sdir / "log.csv", _log_columns(factors, s2.objective),
                    step if loaded else None)
    dist_log = CSVLogger(sdir / "distribution.csv", DIST_COLUMNS, step if loaded else None)
    if init_stats is None:  # the untrained-Φ baseline, logged as step 0
        init_stats = distribution_check(model, real, cfg.seed)
        for f, st in init_stats.items():
            dist_log.log({"step": 0, "factor": f, "phi": "init", **st})

    total = max(_factor_steps(cfg, f)[0] for f in factors)
    if max_steps is not None:
        total = min(total, int(max_steps))
    start, t0 = step, time.perf_counter()
    t_last, step_last = t0, step
    acc: dict[str, dict[str, torch.Tensor]] = {f: {} for f in factors}
    counts: dict[str, dict[str, int]] = {f: {} for f in factors}
    stats, last = None, {}
    from tqdm.auto import tqdm
    bar = tqdm(total=total, initial=step, desc="Stage-II", disable=not progress, leave=False)
    threads = torch.get_num_threads()
    if dev.type == "cpu":
        # (B, ≤512) FC layers gain nothing from intra-op threads, and on shared cores the thread
        # hand-offs cost 5× (measured on 2 busy cores). Only speed (and float rounding) changes.
        torch.set_num_threads(1)
    try:
        for it in range(step, total):
            lr = trainers[factors[0]].opt_phi.param_groups[0]["lr"]
            for f in factors:
                if it < _factor_steps(cfg, f)[0]:
                    for k, v in trainers[f].step(it).items():
                        acc[f][k] = acc[f].get(k, 0.0) + v
                        counts[f][k] = counts[f].get(k, 0) + 1
            step = it + 1
            at_log = step % s2.log_every == 0 or step == total
            at_ckpt = step % s2.checkpoint_every == 0 or step == total
            if at_log or at_ckpt:
                row = {f"{f}/{k}": float(v.item()) / counts[f][k]
                       for f in factors for k, v in acc[f].items()}
                check_finite(row, step, f"the last good checkpoint is {manager.latest()}")
                last = row
                if at_log:
                    now = time.perf_counter()
                    rate = (step - step_last) / max(now - t_last, 1e-9)
                    t_last, step_last = now, step
                    log.log({k: v for k, v in row.items() if k in log.columns}
                            | {"step": step, "time": round(now - t0, 3), "lr": lr,
                               "steps_per_s": rate})
                    bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k.endswith("wdist")})
                    acc, counts = {f: {} for f in factors}, {f: {} for f in factors}
            if at_ckpt:
                if not all(torch.isfinite(p).all() for p in model.parameters()):
                    raise NonFiniteLossError(f"Stage-II parameters became non-finite before step "
                                             f"{step}; the last good checkpoint is {manager.latest()}")
                stats = distribution_check(model, real, cfg.seed)
                for f, st in stats.items():
                    dist_log.log({"step": step, "factor": f, "phi": "trained", **st})
                manager.save({**checkpoint_header("stage2", cfg, step), "factors": factors,
                              "model": model.state_dict(),
                              "trainers": {f: t.state_dict() for f, t in trainers.items()},
                              "stage1_fingerprint": fp, "init_stats": init_stats,
                              "stats": stats, "rng": capture_rng_state()}, step)
            bar.update(1)
    finally:
        torch.set_num_threads(threads)
        bar.close()
        log.close()
        dist_log.close()
    if stats is None and loaded:
        stats = loaded[0].get("stats")
    if stats is None:  # zero steps (max_steps=0): Φ is still at init
        stats = init_stats
    elapsed = time.perf_counter() - t0
    summary = {"step": step, "objective": s2.objective, "factors": factors,
               "stage1_fingerprint": fp, "stats": stats, "stats_init": init_stats,
               "stats_ratio": {f: {k: stats[f][k] / init_stats[f][k] if init_stats[f][k] else None
                                   for k in ("mean_dist", "frechet")} for f in factors}}
    atomic_write_json(sdir / "summary.json", summary)  # atomic: readers never see half a file
    model.eval()
    return {**last, "step": step, "steps_run": step - start, "seconds": elapsed,
            "steps_per_s": (step - start) / max(elapsed, 1e-9), "stats": stats,
            "stats_init": init_stats, "checkpoint": manager.latest(),
            "log": str(sdir / "log.csv"), "distribution": str(sdir / "distribution.csv"),
            "summary": str(sdir / "summary.json"), "model": model, "real": real,
            "stage1_fingerprint": fp}


def _check_stage1(ck: dict[str, Any], fp: dict[str, str], path: str | os.PathLike) -> None:
    """Refuse a Stage-II checkpoint trained against other Stage-I weights (names both)."""
    saved = ck.get("stage1_fingerprint") or {}
    bad = [k for k in saved if k in fp and fp[k] != saved[k]] + [k for k in saved if k not in fp]
    if bad:
        detail = "; ".join(f"{k}: checkpoint {saved[k][:16]}…, given "
                           f"{(fp.get(k) or 'none')[:16]}…" for k in bad)
        raise CheckpointError(
            f"Stage-II checkpoint {path} was trained against other Stage-I weights ({detail}). "
            "Its Φ matches another encoder's embedding distribution: load the Stage-I checkpoint "
            "it was trained with, or retrain Stage-II (train_stage2(..., resume=False)).")


def load_stage2(run_dir_or_ckpt: str | os.PathLike, stage1: Any = None,
                device: str | torch.device = "cpu") -> Stage2Model:
    """Load trained mapping networks (eval mode), checking the Stage-I they belong to.

    Args:
        run_dir_or_ckpt: a run directory (``stage2/checkpoints``), that checkpoint folder, or a
            ``stage2`` checkpoint file.
        stage1: the Stage-I to check against: ``None`` (the Stage-I checkpoints of the same run
            directory), a run directory, a ``(stage1_model, pose_ae[, cfg])`` tuple as returned by
            :func:`dpiglib.training.stage1.load_stage1`, or a fingerprint dict from
            :func:`stage1_fingerprint`.
        device: where to put Φ and the critics.

    Returns:
        :class:`Stage2Model` with ``.step`` and ``.stage1_fingerprint`` attributes.

    Raises:
        CheckpointError: no checkpoint, or one trained against other Stage-I weights (the message
            names both fingerprints and what to do).
    """
    from dpiglib.training.stage1 import load_stage1

    ck, path, ck_dir = load_run_checkpoint(run_dir_or_ckpt, "stage2", "stage2", "Stage-II")
    run_dir = ck_dir.parent.parent
    factors = list(ck["factors"])
    if isinstance(stage1, dict):
        fp = stage1
    else:
        if stage1 is None or isinstance(stage1, (str, os.PathLike)):
            src = Path(stage1) if stage1 is not None else run_dir
            try:
                s1_model, pae, _ = load_stage1(src, "cpu")
            except CheckpointError as exc:
                raise CheckpointError(f"cannot check Stage-II checkpoint {path} against a Stage-I: "
                                      f"{exc}; pass stage1=(model, pose_ae) or a fingerprint") from exc
        else:
            s1_model, pae = stage1[0], stage1[1]
        fp = stage1_fingerprint(s1_model, pae)
    _check_stage1(ck, fp, path)
    cfg = config_from_dict(ck["config"])
    model = Stage2Model(cfg.model, factors, noise_std=cfg.stage2.noise_std)
    model.load_state_dict(ck["model"])
    model.step = int(ck["step"])
    model.stage1_fingerprint = dict(ck.get("stage1_fingerprint") or {})
    return model.to(resolve_device(device)).eval()


@torch.no_grad()
def embedding_check_samples(model: Stage2Model, real: dict[str, torch.Tensor], cfg: RunConfig,
                            n: int = 500) -> tuple[dict, dict, dict]:
    """``(real, fake, fake_at_init)``: up to ``n`` real embeddings per factor, ``n`` samples of the
    trained Φ and ``n`` of Φ at initialisation (same z), for :func:`dpiglib.ui.viz.plot_embedding_check`."""
    init = build_stage2_model(cfg, model.factors).to(next(model.parameters()).device)
    out_real, fake, fake0 = {}, {}, {}
    for f in model.factors:
        g = torch.Generator().manual_seed(int(cfg.seed) * 1_000_003 + 7)
        r = real[f]
        out_real[f] = r[torch.randperm(len(r), generator=g)[:n]]
        z = model.noise(f, n, g)
        fake[f] = model.phi[f](z).float().cpu()
        fake0[f] = init.phi[f](z).float().cpu()
    return out_real, fake, fake0


def distribution_frame(run_dir: str | os.PathLike):
    """``stage2/distribution.csv`` as a wide DataFrame: one row per checked step (step 0 = Φ at
    initialisation), columns ``"{factor}/{statistic}"`` (``fg/frechet``, ``pose/mmd2`` …)."""
    import pandas as pd

    df = pd.read_csv(Path(run_dir) / "stage2" / "distribution.csv")
    wide = df.pivot_table(index="step", columns="factor", values=list(STAT_NAMES))
    wide.columns = [f"{f}/{s}" for s, f in wide.columns]
    order = [f"{f}/{s}" for f in dict.fromkeys(df["factor"]) for s in STAT_NAMES]
    return wide[order].reset_index()
