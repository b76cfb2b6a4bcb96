"""Pretrained models: trained DPIG weights that load into a ready :class:`~dpiglib.sampling.Sampler`.

Not part of the paper (the original code released TensorFlow checkpoints of its models). A
shipped model is a pair of files in ``dpiglib/pretrained/weights/``:

* ``NAME.safetensors``: the sampling networks in fp16 (Stage-I encoder, generator and
  discriminator, which the re-ID export scores with; pose auto-encoder; Stage-II Φ per factor)
  and the training set's poses (the pose bank);
* ``NAME.json``: the manifest: the resolved config the modules are built from, the command and
  recipe that trained them, steps and wall time per phase, the machine, the kit's git commit,
  the sha256 and size of the weights file, and four ground-truth ratios on a held-out
  SynthPerson set (:func:`dpiglib.pretrained.store.pretrained_ratios`).

>>> import dpiglib
>>> dpiglib.list_pretrained()                      # doctest: +SKIP
['synth-tiny']
>>> sampler = dpiglib.load_pretrained("synth-tiny")  # doctest: +SKIP
>>> images = sampler.sample(8, seed=0)               # doctest: +SKIP

Every model can be rebuilt from scratch with the kit's own training path:
``dpig pretrained build synth-tiny --out DIR`` (:mod:`dpiglib.pretrained.build`). The recipes'
seeds (``dpiglib.config.PRETRAINED_SEED``, ``PRETRAINED_HELDOUT_SEED``) are reserved:
``dpig run`` warns when a run uses one (:func:`warn_reserved_seed`).

Importing this package is cheap (no torch); the loaders import :mod:`.store` when called.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_DIR", "PretrainedError", "ReservedSeedWarning", "list_pretrained",
           "load_pretrained", "warn_reserved_seed", "read_pretrained", "export_pretrained",
           "heldout_dataset", "pretrained_ratios"]

#: Where the shipped ``NAME.safetensors`` + ``NAME.json`` pairs live (package data).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

_STORE_API = ("read_pretrained", "export_pretrained", "heldout_dataset", "pretrained_ratios")


class PretrainedError(RuntimeError):
    """A pretrained model cannot be written or loaded (one line naming the file and the fix)."""


class ReservedSeedWarning(UserWarning):
    """A run uses a seed reserved for the pretrained models or their held-out set."""


def list_pretrained(folder: str | os.PathLike | None = None) -> list[str]:
    """Names of the models shipped with this dpiglib (``NAME.json`` next to ``NAME.safetensors``).

    Args:
        folder: look there instead of the package's ``weights/`` folder.
    """
    where = Path(folder) if folder is not None else WEIGHTS_DIR
    if not where.is_dir():
        return []
    return sorted(p.stem for p in where.glob("*.json")
                  if p.with_suffix(".safetensors").is_file())


def load_pretrained(name: str = "synth-tiny", device: str = "auto") -> Any:
    """A shipped pretrained model as a ready :class:`~dpiglib.sampling.Sampler` (pose bank set).

    Args:
        name: one of :func:`list_pretrained` (the recipes are ``dpiglib.config.PRETRAINED_RECIPES``).
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"mps"``.

    Raises:
        PretrainedError: unknown name, weights not shipped (the message names the missing file
            and how to build it), or a damaged file (see
            :func:`dpiglib.pretrained.store.read_pretrained`).
    """
    from ..config import PRETRAINED_RECIPES

    shipped = list_pretrained()
    if name not in shipped:
        if name not in PRETRAINED_RECIPES:
            raise PretrainedError(
                f"unknown pretrained model {name!r}; shipped: {', '.join(shipped) or 'none'}; "
                f"recipes (dpig pretrained build NAME): {', '.join(PRETRAINED_RECIPES)}")
        missing = [p for p in (WEIGHTS_DIR / f"{name}.safetensors", WEIGHTS_DIR / f"{name}.json")
                   if not p.is_file()]
        raise PretrainedError(
            f"{missing[0]} not found: this copy of dpiglib ships no {name!r} weights; build them "
            f"with `dpig pretrained build {name} --out DIR` and load them with "
            f"dpiglib.pretrained.read_pretrained('DIR/export', {name!r})")
    from .store import read_pretrained

    return read_pretrained(WEIGHTS_DIR, name, device)


def warn_reserved_seed(seed: int, what: str = "this run") -> bool:
    """Warn (:class:`ReservedSeedWarning`) when ``seed`` is one the pretrained models reserve.

    A run with ``PRETRAINED_SEED`` renders the pretrained model's own training set (its numbers
    are then not independent of it); ``PRETRAINED_HELDOUT_SEED`` renders the held-out set its
    ratios are measured on (training on it makes them meaningless).

    Returns:
        True when it warned.
    """
    from ..config import PRETRAINED_HELDOUT_SEED, PRETRAINED_SEED

    role = {PRETRAINED_SEED: "the pretrained models' training data",
            PRETRAINED_HELDOUT_SEED: "the held-out set the pretrained models are scored on"}
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        return False
    if seed not in role:
        return False
    warnings.warn(ReservedSeedWarning(
        f"{what} uses seed {seed}, reserved for {role[seed]}; its SynthPerson data overlap "
        "theirs, so comparisons with the pretrained models are not independent (choose another "
        "seed, e.g. --seed 0)"), stacklevel=2)
    return True


def __getattr__(name: str) -> Any:
    if name in _STORE_API:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
