"""What a run was made with: package versions, git commit and a description of the device.

Not part of the paper. ``summary.json`` of every pipeline run (docs/conventions.md, "Run
directory") records these so a number in a report can be traced to the code and hardware that
produced it. Device *resolution* (``"auto"`` → CUDA, then MPS, else CPU) lives in
:mod:`dpiglib.core.runtime`; this module only describes what was resolved. torch is imported lazily so
that ``dpig --help`` stays fast.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["package_versions", "git_commit", "device_description", "cpu_count"]

# Packages whose versions a run summary records (absent ones are reported as None).
_VERSIONED = ("dpiglib", "torch", "numpy", "pandas", "papermill", "nbclient", "matplotlib")


def package_versions(names: tuple[str, ...] = _VERSIONED) -> dict[str, str | None]:
    """Python and package versions from the installed distributions' metadata.

    Reading metadata (rather than importing) keeps this cheap and never fails on a package that
    is installed but broken.

    Returns:
        ``{"python": "3.11.7", "torch": "2.4.1", ...}``; a missing package maps to None.
    """
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The git commit of the checkout holding ``path`` (default: this package's source).

    Returns:
        ``{"commit": "<40 hex>", "dirty": bool}`` where ``dirty`` means tracked files differ from
        the commit, or None when ``path`` is not inside a git checkout or git is not installed
        (e.g. a non-editable install).
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    if where.is_file():
        where = where.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=where, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def cpu_count() -> int:
    """CPU cores this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def device_description(device: str) -> dict[str, Any]:
    """Describe a resolved device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Returns:
        ``{"device": device, "name": ..., ...}``: the GPU name, memory (GiB) and CUDA version for
        CUDA; the processor and core count for CPU; the platform for MPS.
    """
    info: dict[str, Any] = {"device": device, "cpu_cores": cpu_count(),
                            "platform": platform.platform()}
    if device.startswith("cuda"):
        import torch

        index = int(device.split(":")[1]) if ":" in device else 0
        if torch.cuda.is_available() and index < torch.cuda.device_count():
            props = torch.cuda.get_device_properties(index)
            info.update(name=props.name, memory_gib=round(props.total_memory / 2**30, 1),
                        cuda=torch.version.cuda, device_count=torch.cuda.device_count())
        else:
            info["name"] = "CUDA (not available in this process)"
    elif device == "mps":
        info["name"] = f"Apple MPS ({platform.machine()})"
    else:
        info["name"] = platform.processor() or platform.machine() or "cpu"
    info["executable"] = sys.executable
    return info
