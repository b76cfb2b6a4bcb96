"""The Stage-I step as one CUDA graph: the fast path behind ``stage1_compile = "graphs"``.

Why: at batch 16 and 128×64 the Stage-I step is bound by kernel launches, not arithmetic. On the
lent H100 convolutions took about 20 % of device time; the rest was small memory-bound kernels
and the gaps between their launches (``docs/performance.md``). A CUDA graph records every kernel
of one step once and replays them all with a single launch.

A graph replays fixed kernels on fixed addresses, so three things change around the step (the
step itself, :func:`dpiglib.training.stage1.stage1_step`, is the same function the eager trainer
calls):

* the micro-batches are copied into **static buffers** that the captured kernels read;
* the optimisers keep their step counters on the GPU (Adam ``capturable=True``), so the update
  needs no host value; the learning rate, a host float baked into the captured kernels, is
  watched, and a StepLR change re-captures the step (once per ``lr_halve_every`` steps);
* autocast's weight-cast cache is off inside the graph (PyTorch's CUDA-graph notes).

The first ``warmup`` calls run eagerly on a side stream (real training steps: cuDNN picks its
algorithms, the optimiser state is allocated), the next is captured and replayed, and every later
call only copies its batch in and replays. Outputs are the graph's own tensors, overwritten by
the next replay, so a caller uses them before calling again (the trainer adds them to its sums).

:class:`StaticStep` uncaptured (``capture=False``: CPU, tests) runs the same code on the same
buffers, which is how the tests check it against the eager step.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from dpiglib.config import STAGE1_COMPILE_CHOICES as COMPILE_CHOICES

__all__ = ["StaticStep", "make_capturable", "resolve_stage1_compile", "COMPILE_CHOICES"]


def resolve_stage1_compile(choice: str, device: torch.device, precision: str,
                           distributed: bool) -> tuple[str, str]:
    """What ``Stage1Config.compile`` becomes on this run: ``(mode, note)``.

    ``mode`` is ``"off"``, ``"default"`` or ``"graphs"``; ``note`` is "" or one line saying why a
    requested fast path fell back to the eager step (no CUDA, fp16's loss scaling, DDP).
    """
    if choice not in COMPILE_CHOICES:
        raise ValueError(f"stage1 compile must be one of {', '.join(COMPILE_CHOICES)}; "
                         f"got {choice!r}")
    if choice == "off":
        return "off", ""
    if device.type != "cuda":
        return "off", (f"stage1_compile={choice!r} needs a CUDA device; running the eager step "
                       f"on {device.type}")
    if choice == "graphs":
        if precision == "fp16":
            # GradScaler reads its inf check on the host every step: not capturable
            return "off", ("stage1_compile='graphs' needs bf16 or fp32 (fp16's loss scaling "
                           "syncs with the host); running the eager step")
        if distributed:
            return "off", ("stage1_compile='graphs' runs in one process (DDP's gradient hooks "
                           "are not captured); running the eager step")
    return choice, ""


def make_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Let ``optimizer`` (Adam) be captured: ``capturable`` on, step counters on the GPU.

    Also after ``load_state_dict`` of an eager checkpoint, whose param groups say
    ``capturable=False`` and whose counters may live on the CPU.
    """
    for group in optimizer.param_groups:
        group["capturable"] = True
        for p in group["params"]:
            state = optimizer.state.get(p)
            if state and torch.is_tensor(state.get("step")) and state["step"].device != p.device:
                state["step"] = state["step"].to(device=p.device, dtype=torch.float32)


class StaticStep:
    """Run ``step(batches)`` on static input buffers; on CUDA, as one captured graph.

    Args:
        step: the training step, ``step(list of micro-batch dicts) -> dict of tensors`` (or
            ``None`` values); it must do no host syncs and keep the shapes of its first call.
        optimizers: the optimisers the step updates; their learning rates are watched.
        capture: record a CUDA graph (CUDA only); False runs the step eagerly on the buffers.
        warmup: eager calls (real steps, on a side stream) before the capture.
    """

    def __init__(self, step: Callable[[list[dict[str, Any]]], dict[str, Any]],
                 optimizers: Sequence[torch.optim.Optimizer], capture: bool, warmup: int = 3):
        if capture and not torch.cuda.is_available():
            raise RuntimeError("StaticStep(capture=True) needs CUDA; use capture=False")
        self.step, self.optimizers = step, list(optimizers)
        self.capture, self.warmup = bool(capture), int(warmup)
        self.buffers: list[dict[str, Any]] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.out: dict[str, Any] | None = None
        self.captures = 0  # graphs recorded so far (1 + one per learning-rate change)
        self._lr: tuple[float, ...] | None = None
        self._warm = 0

    def _learning_rates(self) -> tuple[float, ...]:
        return tuple(float(g["lr"]) for o in self.optimizers for g in o.param_groups)

    def _load(self, batches: Sequence[dict[str, Any]]) -> None:
        """Copy the micro-batches' tensors into the static buffers (allocated on first use)."""
        if self.buffers is None:
            self.buffers = [{k: torch.empty_like(v) if torch.is_tensor(v) else v
                             for k, v in b.items()} for b in batches]
        if len(batches) != len(self.buffers):
            raise ValueError(f"StaticStep: {len(batches)} micro-batches, the captured step has "
                             f"{len(self.buffers)}; keep grad_accum fixed")
        for buf, b in zip(self.buffers, batches):
            for k, v in b.items():
                if torch.is_tensor(v):
                    if v.shape != buf[k].shape:
                        raise ValueError(f"StaticStep: {k!r} has shape {tuple(v.shape)}, the "
                                         f"captured step {tuple(buf[k].shape)}; a CUDA graph "
                                         "needs a fixed batch shape")
                    buf[k].copy_(v, non_blocking=True)

    def __call__(self, batches: Sequence[dict[str, Any]]) -> dict[str, Any]:
        self._load(batches)
        if not self.capture:
            return self.step(self.buffers)
        lr = self._learning_rates()
        if self.graph is not None and lr == self._lr:
            self.graph.replay()
            return self.out
        if self._warm < self.warmup:  # real steps, eagerly, on a side stream
            self._warm += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self.step(self.buffers)
            torch.cuda.current_stream().wait_stream(side)
            return out
        for opt in self.optimizers:
            make_capturable(opt)
        self.graph = None  # free the previous graph's pool before recording the next
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.out = self.step(self.buffers)
        self.graph, self._lr = graph, lr
        self.captures += 1
        graph.replay()  # capturing records the kernels without running them: this is the step
        return self.out
