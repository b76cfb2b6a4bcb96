"""Checkpoints: atomic save, ``weights_only`` load, compatibility checks, retention.

The original saved TF checkpoints every 6,000 steps (orig §3.6) and restored them by variable
scope (orig §3.8). Here a checkpoint is one plain dict (tensors, numbers, strings, lists, dicts)
holding everything needed to continue exactly: model and optimiser states, schedulers, step,
the run config and every RNG state (nanoGPT's single-dict habit). It loads with
``torch.load(weights_only=True)``, so no code is unpickled.

Writes are atomic (temp file in the same directory, fsync, ``os.replace``, fsync of the
directory), so a full disk or a crash never damages the previous good checkpoint.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import io
import os
import platform
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dpiglib.config import RunConfig, architecture_fingerprint

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "CheckpointError",
    "checkpoint_header",
    "save_checkpoint",
    "load_checkpoint",
    "check_compatible",
    "CheckpointManager",
    "weights_fingerprint",
]

FORMAT_VERSION = 1
KINDS = ("stage1", "pose", "stage2", "stage2_pose")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or is not usable here (the message names the file)."""


def _library_versions() -> dict[str, str]:
    return {"torch": str(torch.__version__), "numpy": str(np.__version__),
            "python": platform.python_version()}


def checkpoint_header(kind: str, cfg: RunConfig | dict, step: int) -> dict[str, Any]:
    """The bookkeeping fields every checkpoint carries (merge with the training state).

    Args:
        kind: one of :data:`KINDS` (``"stage1"`` image model, ``"pose"`` pose auto-encoder, …).
        cfg: the run config (stored as ``config_to_dict``) or that dict already.
        step: completed optimiser steps.
    """
    from dpiglib.config import config_to_dict

    cfg_dict = cfg if isinstance(cfg, dict) else config_to_dict(cfg)
    return {"format_version": FORMAT_VERSION, "kind": kind, "preset": cfg_dict.get("preset"),
            "config": cfg_dict, "step": int(step), "versions": _library_versions()}


# --------------------------------------------------------------------------------------------
# Atomic write
# --------------------------------------------------------------------------------------------


def _write_bytes(fileobj, data: bytes) -> None:
    """The low-level writer; tests patch this to simulate ENOSPC / EROFS mid-write."""
    view = memoryview(data)
    chunk = 1 << 22
    for start in range(0, len(view), chunk):
        fileobj.write(view[start:start + chunk])


_CAUSES = {errno.ENOSPC: "disk full", errno.EROFS: "read-only file system",
           errno.EACCES: "permission denied", errno.EDQUOT: "disk quota exceeded"}


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any],
                    writer: Callable[[Any, bytes], None] | None = None) -> str:
    """Write ``state`` to ``path`` atomically.

    The state is serialised in memory, written to a temp file in the same directory, flushed and
    fsynced, then moved over ``path`` with ``os.replace`` and the directory is fsynced. If any step
    fails the temp file is removed and the previous file at ``path`` is untouched.

    Args:
        path: destination file (its directory is created).
        state: tensors and plain Python only (dicts, lists, tuples, numbers, strings, None).
        writer: ``writer(fileobj, data)`` replacing :func:`_write_bytes` (tests).

    Returns:
        ``str(path)``.

    Raises:
        CheckpointError: the disk is full, the file system is read-only, permission is denied or
            another OS error occurred; the message names the path and the cause.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    write = writer or _write_bytes
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=directory)
        with os.fdopen(fd, "wb") as f:
            write(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        try:  # make the rename durable; not every platform can open a directory
            dfd = os.open(directory, os.O_RDONLY)
        except OSError:
            dfd = None
        if dfd is not None:
            try:
                os.fsync(dfd)
            except OSError:
                pass
            finally:
                os.close(dfd)
    except OSError as exc:
        cause = _CAUSES.get(exc.errno, exc.strerror or type(exc).__name__)
        raise CheckpointError(
            f"could not write checkpoint {path}: {cause} ({exc}); the previous checkpoint at this "
            f"path, if any, is unchanged") from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass
    return path


# --------------------------------------------------------------------------------------------
# Load and compatibility
# --------------------------------------------------------------------------------------------


def _diff(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k, "<missing>"), b.get(k, "<missing>"), f"{prefix}.{k}")
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        a, b = list(a), list(b)
    return [] if a == b else [f"{prefix}: checkpoint {a!r}, config {b!r}"]


def check_compatible(ckpt: dict[str, Any], path: str, expected_kind: str | None = None,
                     expected_config: RunConfig | None = None) -> None:
    """Raise :class:`CheckpointError` if ``ckpt`` is of another kind or architecture.

    The architecture is compared with :func:`dpiglib.config.architecture_fingerprint`; the error
    names every differing field with both values and both presets.
    """
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format_version "
                              f"{ckpt.get('format_version')!r}; this dpiglib reads {FORMAT_VERSION}")
    if expected_kind is not None and ckpt.get("kind") != expected_kind:
        raise CheckpointError(f"checkpoint {path} is a {ckpt.get('kind')!r} checkpoint; expected "
                              f"{expected_kind!r}")
    if expected_config is not None:
        saved = ckpt.get("config", {})
        # the model's image size is stored once, under data (older checkpoints: under both)
        data = saved.get("data", {})
        saved_arch = {"image_height": data.get("image_height", "<missing>"),
                      "image_width": data.get("image_width", "<missing>"), **saved.get("model", {})}
        want = architecture_fingerprint(expected_config)
        diffs = _diff(saved_arch, want, "model")
        if diffs:
            raise CheckpointError(
                f"checkpoint {path} was trained with another architecture: " + "; ".join(diffs)
                + f" (preset {saved.get('preset')!r} vs {expected_config.preset!r}); use the "
                "config it was trained with (stored in the checkpoint) or another run directory")


def load_checkpoint(path: str | os.PathLike, expected_kind: str | None = None,
                    expected_config: RunConfig | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check it fits.

    Args:
        path: a file written by :func:`save_checkpoint`.
        expected_kind: refuse other kinds (``"stage1"``, ``"pose"``, …) when given.
        expected_config: refuse another architecture (see :func:`check_compatible`).
        map_location: where tensors go (default CPU).

    Raises:
        CheckpointError: missing, truncated/corrupt, another kind or another architecture.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # zip/pickle errors vary by torch version
        size = os.path.getsize(path)
        reason = str(exc).split(". ")[0][:120]  # torch's first sentence; the rest is advice
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({size} bytes; "
                              f"{type(exc).__name__}: {reason}); delete it to fall back on an "
                              "older step_*.pt of the same folder, or restore a good copy") from exc
    if not isinstance(ckpt, dict) or "kind" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not a dpiglib checkpoint (no 'kind' field)")
    check_compatible(ckpt, path, expected_kind, expected_config)
    return ckpt


# --------------------------------------------------------------------------------------------
# Retention
# --------------------------------------------------------------------------------------------


class CheckpointManager:
    """``DIR/latest.pt`` plus numbered ``DIR/step_XXXXXXX.pt``, keeping the newest ``keep_last``.

    Args:
        directory: e.g. ``RUN_DIR/stage1/checkpoints``.
        keep_last: numbered checkpoints kept besides ``latest.pt`` (0 keeps only latest).
    """

    _PATTERN = re.compile(r"step_(\d+)\.pt$")

    def __init__(self, directory: str | os.PathLike, keep_last: int = 3):
        self.directory = os.fspath(directory)
        self.keep_last = int(keep_last)

    def latest(self) -> str:
        """Path of ``latest.pt`` (it may not exist yet)."""
        return os.path.join(self.directory, "latest.pt")

    def numbered(self) -> list[tuple[int, str]]:
        """``[(step, path)]`` of numbered checkpoints, oldest first."""
        out = []
        for p in glob.glob(os.path.join(self.directory, "step_*.pt")):
            m = self._PATTERN.search(p)
            if m:
                out.append((int(m.group(1)), p))
        return sorted(out)

    def save(self, state: dict[str, Any], step: int) -> str:
        """Write ``step_XXXXXXX.pt`` and ``latest.pt`` atomically, then prune old numbered ones."""
        numbered = os.path.join(self.directory, f"step_{int(step):07d}.pt")
        if self.keep_last > 0:
            save_checkpoint(numbered, state)
        save_checkpoint(self.latest(), state)
        if self.keep_last > 0:
            for _, p in self.numbered()[:-self.keep_last]:
                try:
                    os.remove(p)
                except OSError:
                    pass
        # A process killed mid-write (SIGKILL, power loss) leaves its hidden temp file behind;
        # one writer owns this directory, so after a good save every such leftover is stale.
        for p in glob.glob(os.path.join(self.directory, ".*.pt.*.tmp")):
            try:
                os.remove(p)
            except OSError:
                pass
        return self.latest()

    def load_newest(self, expected_kind: str | None = None,
                    expected_config: RunConfig | None = None,
                    map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], str] | None:
        """The newest loadable checkpoint, or None if the directory holds no checkpoint file.

        A corrupt ``latest.pt`` is skipped with a warning and the newest good numbered checkpoint
        is used ("keeps the last good checkpoint"). Kind/architecture mismatches are *not*
        skipped: they raise, because silently training a different model would be worse. So does
        a directory whose checkpoint files are *all* unreadable (restarting would overwrite them).
        """
        candidates = [self.latest()] + [p for _, p in reversed(self.numbered())]
        best: tuple[dict[str, Any], str] | None = None
        unreadable: list[str] = []
        for p in candidates:
            if not os.path.isfile(p):
                continue
            try:
                ckpt = load_checkpoint(p, expected_kind, expected_config, map_location)
            except CheckpointError as exc:
                if "truncated or corrupt" not in str(exc):
                    raise
                warnings.warn(f"skipping unreadable checkpoint: {exc}", stacklevel=2)
                unreadable.append(p)
                continue
            if best is None or ckpt["step"] > best[0]["step"]:
                best = (ckpt, p)
            if p == self.latest():
                break  # latest is by construction the newest write
        if best is None and unreadable:
            # Starting from scratch would silently overwrite them: make the user decide.
            raise CheckpointError(
                f"every checkpoint in {self.directory} is unreadable (truncated or corrupt: "
                f"{', '.join(os.path.basename(p) for p in unreadable)}); delete them to start "
                "over, restore a good copy, or use another run directory")
        return best


def weights_fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors' bytes in key order (Stage-II records its Stage-I this way)."""
    h = hashlib.sha256()
    for key in state_dict:
        t = state_dict[key]
        h.update(key.encode())
        if torch.is_tensor(t):
            t = t.detach().cpu().contiguous()
            h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(t).encode())
    return h.hexdigest()


def load_run_checkpoint(run_dir_or_ckpt: str | os.PathLike, stage: str, kind: str, what: str
                        ) -> tuple[dict[str, Any], Path, Path]:
    """The newest ``kind`` checkpoint (``what``: its name in messages) of a run: ``RUN_DIR/<stage>/checkpoints``, that folder
    itself, or one checkpoint file.

    Returns:
        ``(checkpoint dict, its path, its checkpoints folder)``.

    Raises:
        CheckpointError: no such checkpoint, or an unreadable one.
    """
    p = Path(run_dir_or_ckpt)
    if not p.is_dir():
        return load_checkpoint(p, expected_kind=kind), p, p.parent
    ck_dir = p / stage / "checkpoints" if (p / stage).is_dir() else p
    found = CheckpointManager(ck_dir).load_newest(kind)
    if found is None:
        raise CheckpointError(f"no {what} checkpoint in {ck_dir}; train with train_{stage}")
    return found[0], found[1], ck_dir
