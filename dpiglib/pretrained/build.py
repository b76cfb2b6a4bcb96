"""Rebuilding a pretrained model from scratch with the kit's own training path.

``dpig pretrained build synth-tiny --out DIR`` runs :func:`build_pretrained`: the recipe in
``dpiglib.config.PRETRAINED_RECIPES`` becomes an ordinary run directory (``DIR/config.json``,
``DIR/data``, ``DIR/stage1``, ``DIR/stage2``), trained by the same ``train_stage1`` /
``train_stage2`` calls a notebook makes. Every phase resumes from its newest checkpoint, so an
interrupted build continues where it stopped; a finished phase is not run again. The last phase
exports the weights as safetensors with their JSON manifest (:mod:`dpiglib.pretrained.store`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from dpiglib.config import PRETRAINED_RECIPES, resolve_run_config
from dpiglib.pretrained.registry import recipe_config

__all__ = ["train_recipe", "build_pretrained"]


def train_recipe(name: str, out_dir: str | os.PathLike, device: str = "auto",
                 progress: bool = True) -> dict[str, Any]:
    """Render the recipe's dataset and train every model of it into ``out_dir`` (resumable).

    Returns:
        ``{"config", "data_root", "seconds": {phase: wall seconds of this call}}``.
    """
    from dpiglib.data.prepare import ensure_dataset
    from dpiglib.training.stage1 import train_stage1
    from dpiglib.training.stage2 import train_stage2

    recipe_config(name)  # unknown name: ConfigError before any work
    out = Path(out_dir)
    preset, overrides = PRETRAINED_RECIPES[name]
    cfg = resolve_run_config(preset, out, **overrides)
    seconds: dict[str, float] = {}

    def phase(key, fn):
        t0 = time.perf_counter()
        fn()
        seconds[key] = time.perf_counter() - t0

    root = ensure_dataset(cfg, out, progress=progress)
    phase("stage1_image", lambda: train_stage1(cfg, root, out, device=device, model="image",
                                               progress=progress))
    phase("stage1_pose", lambda: train_stage1(cfg, root, out, device=device, model="pose",
                                              progress=progress))
    phase("stage2", lambda: train_stage2(cfg, root, out, device=device, progress=progress))
    return {"config": cfg, "data_root": str(root), "seconds": seconds}


def build_pretrained(name: str, out_dir: str | os.PathLike, device: str = "auto",
                     progress: bool = True, export_to: str | os.PathLike | None = None,
                     command: str | None = None) -> dict[str, Any]:
    """Train the recipe ``name`` into ``out_dir`` (resuming), then export it as a pretrained model.

    Args:
        name: a key of ``dpiglib.config.PRETRAINED_RECIPES`` (``"synth-tiny"``).
        out_dir: the run directory (``OUT/data``, ``OUT/stage1``, ``OUT/stage2``).
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"mps"`` (training and the ratios).
        progress: tqdm bars (rendering, each training phase, the held-out ratios).
        export_to: folder for ``NAME.safetensors`` + ``NAME.json`` (default ``OUT/export``);
            copy both into ``dpiglib/pretrained/weights/`` to ship them.
        command: recorded in the manifest (default: this call, spelled as the CLI command).

    Returns:
        ``{"run_dir", "export_dir", "files", "ratios", "seconds"}`` (``seconds``: this call's
        wall time per phase, ``export`` included).
    """
    from dpiglib.core.runtime import resolve_device
    from dpiglib.pretrained.store import export_pretrained

    recipe_config(name)  # unknown name: ConfigError before any work
    trained_on = str(resolve_device(device))
    out = Path(out_dir)
    export_dir = Path(export_to) if export_to is not None else out / "export"
    if command is None:
        command = f"dpig pretrained build {name} --out {out} --device {device}" + (
            f" --export-to {export_dir}" if export_to is not None else "")
    result = train_recipe(name, out, device=device, progress=progress)
    seconds = dict(result["seconds"])
    preset, overrides = PRETRAINED_RECIPES[name]
    t0 = time.perf_counter()
    manifest = export_pretrained(out, name, export_dir, command,
                                 {"recipe": {"preset": preset, "overrides": dict(overrides)},
                                  "build_seconds_this_call": seconds},
                                 device=trained_on, trained_on=trained_on, progress=progress)
    seconds["export"] = time.perf_counter() - t0
    return {"run_dir": str(out), "export_dir": str(export_dir),
            "files": [str(export_dir / f) for f in (f"{name}.safetensors", f"{name}.json")],
            "ratios": manifest["ratios"], "seconds": seconds}
