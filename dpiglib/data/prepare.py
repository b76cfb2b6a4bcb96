"""Where a run's dataset lives, and making sure it is there.

Every notebook receives the shared parameters ``data_root`` and ``run_dir``. An empty
``data_root`` means "the run's own dataset in ``RUN_DIR/data``", which for the SynthPerson
presets is generated there the first time (notebook 01) and reused afterwards; real datasets
(``market``, ``deepfashion``) are never generated and must be given with ``data_root``.
"""

from __future__ import annotations

from pathlib import Path

from dpiglib.config import ConfigError, RunConfig

__all__ = ["dataset_root", "ensure_dataset"]


def dataset_root(cfg: RunConfig, run_dir, data_root: str | Path = "") -> Path:
    """The dataset folder a run uses (see module docstring); nothing is created."""
    if data_root:
        return Path(data_root).expanduser()
    if cfg.data.dataset != "synth":
        raise ConfigError(
            f"preset {cfg.preset!r} trains on {cfg.data.dataset} data, which the kit cannot generate: "
            "pass data_root=/path/to/prepared/dataset (see docs/data.md)"
        )
    return Path(run_dir) / "data"


def ensure_dataset(cfg: RunConfig, run_dir, data_root: str | Path = "", progress: bool = True) -> Path:
    """Return the run's dataset folder, generating SynthPerson into it when needed.

    Raises:
        ConfigError: a real-data preset without ``data_root``.
        FileNotFoundError: ``data_root`` given but missing (the message says what to do).
    """
    root = dataset_root(cfg, run_dir, data_root)
    if data_root:
        if not root.is_dir():
            raise FileNotFoundError(
                f"data_root {str(root)!r} does not exist; prepare a dataset there (docs/data.md) "
                "or leave data_root empty to use SynthPerson"
            )
        return root
    from dpiglib.synth.dataset import generate_synthperson

    generate_synthperson(
        root,
        identities=cfg.synth.identities,
        images_per_identity=cfg.synth.images_per_identity,
        test_identities=cfg.synth.test_identities,
        size=cfg.data.image_size,
        seed=cfg.seed,
        style=cfg.synth.style,
        progress=progress,
    )
    return root
