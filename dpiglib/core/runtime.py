"""Run-time plumbing shared by the Stage-I and Stage-II trainers.

Nothing here is part of the paper: it is what a modern PyTorch port needs around the original's
single-GPU TensorFlow loop (orig §7.1 "modernise"): device resolution (``"auto"`` → CUDA, MPS or
CPU), seeding from one place, capture/restore of every random-number state so a resumed run
continues bit for bit, the mixed-precision choice (``Stage1Config.amp``) and the
DistributedDataParallel set-up (one process per GPU under ``torchrun``; ``batch_size`` is per
process, docs/conventions.md).
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "resolve_device",
    "seed_everything",
    "capture_rng_state",
    "restore_rng_state",
    "AmpSettings",
    "amp_settings",
    "DistInfo",
    "dist_info",
    "init_distributed",
    "cleanup_distributed",
    "epoch_permutation",
    "BatchOrder",
    "eval_mode",
]


# --------------------------------------------------------------------------------------------
# Device and seeding
# --------------------------------------------------------------------------------------------


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a notebook ``device`` parameter into a :class:`torch.device`.

    Args:
        device: ``"auto"`` (CUDA if available, else MPS, else CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:N"``, ``"mps"`` or a ``torch.device``.

    Raises:
        ValueError: the requested accelerator is not available here (the message says which
            devices are).
    """
    if isinstance(device, torch.device):
        device = str(device)
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (
        ["mps"] if _mps_available() else [])
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; "
                         f"available: {', '.join(available)}")
    if name == "mps" and not _mps_available():
        raise ValueError(f"device 'mps' requested but MPS is not available; "
                         f"available: {', '.join(available)}")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from exc


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device) from the run's one ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def configure_backends(device: torch.device) -> None:
    """GPU speed settings for fixed-shape training (no effect on CPU runs or their numbers).

    cuDNN autotuning picks the fastest convolution algorithm for each of the model's fixed
    shapes on the first step; TF32 lets fp32 matmuls and convolutions use the tensor cores
    (the bf16 autocast path is unaffected). Both trade bit-exact GPU reruns for speed; the
    determinism promise is for CPU runs (docs/conventions.md).
    """
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def resolve_num_workers(requested: int, device: torch.device, cpu_count: int | None = None) -> int:
    """DataLoader workers for a training run: ``requested`` if >= 0, else an automatic choice.

    Auto (-1, the default) is 0 on CPU and MPS: on the 2-core machines the kit targets, worker
    processes compete with the training step for the same cores and were measured slower than
    loading in the main process (docs/performance.md, data loading). On CUDA the step runs on
    the GPU while the CPU would sit idle, and the H100 run measured 2 workers as the first count
    that delivers 3x what the Market step consumes, so auto takes up to 6 workers, leaving
    two cores for the main process.
    """
    if requested >= 0:
        return int(requested)
    if requested != -1:
        raise ValueError(f"num_workers must be >= 0 or -1 (auto), got {requested}")
    if torch.device(device).type != "cuda":
        return 0
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(0, min(6, cores - 2))


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of one epoch: a permutation of ``range(n)`` fixed by ``(seed, epoch)``.

    Deriving the order from the pair (rather than from a running generator) lets a resumed run
    jump straight to its position inside the epoch. Global shuffling replaces the original's
    32-element queue (orig B11).

    Returns:
        int64 tensor ``(n,)``.
    """
    g = torch.Generator()
    g.manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g)


class BatchOrder:
    """A resumable, sharded, deterministic order of (index, flip) micro-batches.

    Micro-batch ``p`` (counted from the start of training, across epochs) of rank ``r`` is a
    pure function of ``(seed, p, r)``: epoch ``e = p // batches_per_epoch`` uses
    :func:`epoch_permutation` ``(n, seed, e)``, cut into global batches of
    ``batch_size × world_size`` (the last incomplete one is dropped) and rank ``r`` takes its
    slice, like ``DistributedSampler``. Each item's horizontal flip is a coin drawn from the same
    ``(seed, epoch)`` generator. A resumed run restarts at ``p`` = micro-batches already used.

    Args:
        n: dataset size. batch_size: per process. seed: the run seed.
        rank, world_size: DDP shard. flip: draw flips (else all False).

    Raises:
        ValueError: ``n < batch_size × world_size``.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 flip: bool = True):
        global_batch = batch_size * world_size
        if n < global_batch:
            raise ValueError(f"the dataset has {n} items, fewer than one global batch "
                             f"({batch_size} per process × {world_size} processes)")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size, self.flip = rank, world_size, flip
        self.batches_per_epoch = n // global_batch
        self._cache: tuple[int, torch.Tensor, torch.Tensor] | None = None

    def _epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is None or self._cache[0] != epoch:
            g = torch.Generator()
            g.manual_seed(int(self.seed) * 1_000_003 + int(epoch))
            perm = torch.randperm(self.n, generator=g)  # == epoch_permutation(n, seed, epoch)
            flips = torch.rand(self.n, generator=g) < 0.5 if self.flip else torch.zeros(
                self.n, dtype=torch.bool)
            self._cache = (epoch, perm, flips)
        return self._cache[1], self._cache[2]

    def batch(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indices int64 (B,), flips bool (B,))`` of micro-batch ``position`` on this rank."""
        epoch, j = divmod(int(position), self.batches_per_epoch)
        perm, flips = self._epoch(epoch)
        start = j * self.batch_size * self.world_size + self.rank * self.batch_size
        idx = perm[start:start + self.batch_size]
        return idx, flips[idx]

    def stream(self, start: int) -> Iterator[list[int]]:
        """Endless ``batch_sampler`` from ``start``: flipped items are encoded as ``i + n``."""
        p = start
        while True:
            idx, flips = self.batch(p)
            yield (idx + flips.long() * self.n).tolist()
            p += 1


# --------------------------------------------------------------------------------------------
# RNG state capture (weights_only-loadable: tensors, lists, numbers only)
# --------------------------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """Every global RNG state as tensors and plain Python values.

    The result loads with ``torch.load(weights_only=True)``: NumPy's key array becomes an int64
    tensor and Python's state tuple becomes lists.
    """
    py_version, py_internal, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": py_version, "internal": list(py_internal), "gauss_next": py_gauss},
        "numpy": {"name": str(np_name), "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss),
                  "cached_gaussian": float(np_cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    if _mps_available() and hasattr(torch, "mps"):
        with contextlib.suppress(Exception):
            state["mps"] = torch.mps.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`. CUDA/MPS states are restored only where present."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32) if torch.is_tensor(npst["keys"]) else np.asarray(
        npst["keys"], dtype=np.uint32)
    np.random.set_state((npst["name"], keys, npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
    if "mps" in state and _mps_available():
        with contextlib.suppress(Exception):
            torch.mps.set_rng_state(state["mps"].cpu())


# --------------------------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AmpSettings:
    """The resolved mixed-precision choice.

    Attributes:
        dtype: autocast dtype, or None for full fp32.
        use_scaler: fp16 needs a GradScaler; bf16 does not.
        device_type: ``"cuda"`` / ``"cpu"`` / ``"mps"`` (autocast's ``device_type``).
        cache: autocast's weight-cast cache; a step captured as a CUDA graph turns it off, as
            PyTorch's CUDA-graph notes require (same numbers: only the reuse of casts changes).
    """

    dtype: torch.dtype | None
    use_scaler: bool
    device_type: str
    cache: bool = True

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    @property
    def precision(self) -> str:
        """``"bf16"``, ``"fp16"`` (autocast dtypes) or ``"fp32"``: what a run records."""
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "fp32")

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context manager for the forward passes (a no-op when AMP is off)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype,
                              cache_enabled=self.cache)

    def grad_scaler(self):
        """A ``torch.amp.GradScaler`` that is enabled only for fp16."""
        return torch.amp.GradScaler(self.device_type if self.device_type == "cuda" else "cpu",
                                    enabled=self.use_scaler)


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 arithmetic in hardware (AVX-512 BF16 or AMX), read from the flags.

    There oneDNN runs bf16 convolutions natively (synth-tiny batch 8 on 2 cores: 6.9 -> 11.5
    steps/s, ``benchmarks/results/cpu_bf16.json``); elsewhere bf16 is emulated and slower than
    fp32. Linux only (``/proc/cpuinfo``); other systems answer False.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def amp_settings(device: torch.device, amp: str = "auto") -> AmpSettings:
    """Resolve ``Stage1Config.amp`` for ``device``.

    ``"auto"``: bf16 autocast on CUDA if the GPU supports it, else fp16 with a GradScaler; on a
    CPU, bf16 autocast where the CPU has native bf16 (:func:`cpu_has_native_bf16`) and fp32
    elsewhere; off on MPS. ``"bf16"`` is honoured on CPU too. ``"off"`` is plain fp32 everywhere
    (tests that pin exact numbers use it, so they hold on every CPU). Autocast leaves parameters
    and optimiser state in fp32, so the clipping and rounding semantics stay fp32 (orig §7.1).

    Raises:
        ValueError: unknown ``amp`` value, or fp16 requested on a CPU/MPS device.
    """
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"stage amp must be one of auto, bf16, fp16, off; got {amp!r}")
    kind = device.type
    if amp == "off" or kind == "mps":
        return AmpSettings(None, False, kind)
    if kind == "cpu":
        if amp == "fp16":
            raise ValueError("amp='fp16' needs a CUDA device; use 'off' or 'auto' on CPU")
        if amp == "bf16" or cpu_has_native_bf16():
            return AmpSettings(torch.bfloat16, False, "cpu")
        return AmpSettings(None, False, "cpu")
    # CUDA
    if amp == "fp16":
        return AmpSettings(torch.float16, True, "cuda")
    if amp == "bf16" or torch.cuda.is_bf16_supported():
        return AmpSettings(torch.bfloat16, False, "cuda")
    return AmpSettings(torch.float16, True, "cuda")


# --------------------------------------------------------------------------------------------
# DistributedDataParallel
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistInfo:
    """Rank, world size and local rank of this process (``world_size == 1`` when not DDP)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes logs, samples and checkpoints."""
        return self.rank == 0


def dist_info() -> DistInfo:
    """The current process group's ranks, or a single-process :class:`DistInfo`."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(),
                        int(os.environ.get("LOCAL_RANK", dist.get_rank())), True)
    return DistInfo()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed(distributed: bool, device: str | torch.device = "auto"
                     ) -> tuple[DistInfo, torch.device]:
    """Join (or create) the process group when launched by ``torchrun`` or asked to.

    A process group is used when the environment has ``RANK`` and ``WORLD_SIZE`` (``torchrun``)
    or ``distributed=True`` (a single-process group is then created if no launcher set one up).
    The backend is NCCL on CUDA and Gloo on CPU; each process takes ``cuda:LOCAL_RANK``.

    Returns:
        ``(DistInfo, device)`` for this process.
    """
    dev = resolve_device(device)
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    if not (launched or distributed):
        return DistInfo(), dev
    if dist.is_initialized():
        info = dist_info()
    else:
        if not launched:
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(_free_port()))
            os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        info = dist_info()
    if dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    return info, dev


def cleanup_distributed(synchronize: bool = True) -> None:
    """Destroy the process group if one is initialised.

    Args:
        synchronize: first wait at a barrier until every rank has got here, so that no rank
            shuts its end of the group down while a peer still uses it (a Gloo peer torn down
            early can abort the other process at exit). Pass ``False`` on an error path, where
            a peer may never arrive.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # free DDP wrappers (and their hold on the group) while all ranks are alive
        if synchronize:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def eval_mode(*modules: torch.nn.Module) -> Iterator[None]:
    """Switch modules to eval for the block, then restore their previous train flags."""
    flags = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, f in zip(modules, flags):
            m.train(f)
