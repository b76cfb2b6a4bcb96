"""Atomic file writes: readers never see half a file, and a failed write leaves the old one.

Every small file the kit writes (``config.json``, ``summary.json``, ``metrics.json``, CSVs of the
dataset format, markers, PNGs of the evaluation) goes through :func:`atomic_write_bytes`: a
temporary file in the same folder, flushed and fsynced, then moved over the target with
``os.replace``. Checkpoints have their own writer with error reporting (``checkpoint.py``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text with the newlines as given (LF stays LF on every platform)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, **dumps_kwargs: Any) -> Path:
    """``json.dumps(obj, indent=2, **dumps_kwargs)`` plus a final newline, written atomically."""
    return atomic_write_text(path, json.dumps(obj, **{"indent": 2, **dumps_kwargs}) + "\n")
