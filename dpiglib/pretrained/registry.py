"""Which pretrained models this copy of dpiglib ships, their errors, and the reserved seeds.

No torch here: ``dpig pretrained list`` and the reserved-seed warning of ``dpig run`` stay quick.
Loading is :func:`dpiglib.pretrained.store.load_pretrained`.
"""


from __future__ import annotations

import os
import warnings
from pathlib import Path

from dpiglib.config import PRETRAINED_RECIPES, ConfigError, RunConfig, get_preset


__all__ = ["WEIGHTS_DIR", "PretrainedError", "ReservedSeedWarning", "list_pretrained",
           "warn_reserved_seed", "recipe_config"]

#: Where the shipped ``NAME.safetensors`` + ``NAME.json`` pairs live (package data).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"



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


def warn_reserved_seed(seed: int, what: str = "this run") -> bool:
    """Warn (:class:`ReservedSeedWarning`) when ``seed`` is one the pretrained models reserve.

    A run with ``PRETRAINED_SEED`` renders the pretrained model's own training set (its numbers
    are then not independent of it); ``PRETRAINED_HELDOUT_SEED`` renders the held-out set its
    ratios are measured on (training on it makes them meaningless).

    Returns:
        True when it warned.
    """
    from dpiglib.config import PRETRAINED_HELDOUT_SEED, PRETRAINED_SEED

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


def recipe_config(name: str) -> RunConfig:
    """The resolved run config of the pretrained model ``name``."""
    if name not in PRETRAINED_RECIPES:
        raise ConfigError(f"unknown pretrained model {name!r}; known: "
                          f"{', '.join(PRETRAINED_RECIPES)}")
    preset, overrides = PRETRAINED_RECIPES[name]
    return get_preset(preset, **overrides)
