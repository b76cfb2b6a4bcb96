"""Run logging: CSV loss logs, sample-grid PNGs and the NaN/inf guard.

The original printed losses and wrote TensorBoard summaries every 200 steps (orig §3.6). Here
each trainer appends rows to a pandas-readable CSV in the run directory (docs/conventions.md:
``stage1/log.csv``), saves sample grids as PNGs, and checks the accumulated losses for
non-finite values at the same interval, so the training loop never synchronises per step.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from PIL import Image

__all__ = ["CSVLogger", "save_image_grid", "image_grid", "NonFiniteLossError", "check_finite"]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the message names the loss and the step."""


class CSVLogger:
    """Append rows with a fixed header to a CSV file, flushing after each row.

    On resume (``resume_step`` given) rows with ``step > resume_step`` are dropped, so a run that
    crashed after logging but before its next checkpoint does not leave duplicate steps.

    Args:
        path: CSV file (its directory is created).
        columns: the header; ``log()`` rejects other keys.
        resume_step: keep existing rows up to this step and append after them; None starts a new
            file (an existing one is overwritten).

    Raises:
        ValueError: on resume, the existing file's header differs from ``columns``.
    """

    def __init__(self, path: str | os.PathLike, columns: Iterable[str],
                 resume_step: int | None = None):
        self.path = os.fspath(path)
        self.columns = list(columns)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)) or ".", exist_ok=True)
        kept: list[list[str]] = []
        if resume_step is not None and os.path.isfile(self.path):
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f))
            if rows:
                if rows[0] != self.columns:
                    raise ValueError(f"cannot resume log {self.path}: its header {rows[0]} differs "
                                     f"from {self.columns}")
                step_col = self.columns.index("step") if "step" in self.columns else None
                for row in rows[1:]:
                    if step_col is None or (row and float(row[step_col]) <= resume_step):
                        kept.append(row)
        tmp = self.path + ".tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            w.writerows(kept)
        os.replace(tmp, self.path)
        self._file = open(self.path, "a", newline="")
        self._writer = csv.writer(self._file)

    def log(self, row: Mapping[str, Any]) -> None:
        """Append one row; missing columns are left empty, unknown keys raise ValueError."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"log {self.path}: unknown column(s) {sorted(unknown)}; header is "
                             f"{self.columns}")
        self._writer.writerow([_fmt(row.get(c, "")) for c in self.columns])
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "CSVLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fmt(v: Any) -> Any:
    if torch.is_tensor(v):
        v = v.item()
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    return v


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile images ``(B, 3, H, W)`` in ``[-1, 1]`` into one uint8 array ``(H', W', 3)``.

    Images fill rows left to right, ``nrow`` per row, separated by ``padding`` white pixels.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (B, 3, H, W) or (B, 1, H, W); got {tuple(images.shape)}")
    x = images.detach().float().cpu().clamp(-1, 1)
    x = ((x + 1) * 127.5).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    b, _, h, w = x.shape
    ncol = max(1, min(nrow, b))
    nrows = math.ceil(b / ncol)
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, 3), 255,
                   dtype=np.uint8)
    arr = x.permute(0, 2, 3, 1).numpy()
    for i in range(b):
        r, c = divmod(i, ncol)
        y0, x0 = padding + r * (h + padding), padding + c * (w + padding)
        grid[y0:y0 + h, x0:x0 + w] = arr[i]
    return grid


def save_image_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int = 8,
                    padding: int = 2) -> str:
    """Save ``images`` ``(B, 3, H, W)`` in ``[-1, 1]`` as one PNG grid (see :func:`image_grid`)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(image_grid(images, nrow, padding)).save(path)
    return path


def check_finite(values: Mapping[str, float | torch.Tensor], step: int,
                 hint: str = "") -> None:
    """Raise :class:`NonFiniteLossError` if any value is NaN or ±inf.

    Args:
        values: loss name → value (sums accumulated on the device since the last check are fine:
            one NaN anywhere makes the sum NaN).
        step: the step reported in the message.
        hint: appended to the message (e.g. where the last good checkpoint is).
    """
    for name, v in values.items():
        f = float(v.item()) if torch.is_tensor(v) else float(v)
        if not math.isfinite(f):
            raise NonFiniteLossError(
                f"loss {name!r} became {f} at or before step {step}" + (f"; {hint}" if hint else ""))
