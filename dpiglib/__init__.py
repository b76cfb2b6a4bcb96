"""dpiglib: Disentangled Person Image Generation (Ma et al., CVPR 2018) in PyTorch.

A notebook-first kit: pose geometry, datasets (real formats and the procedural SynthPerson),
the Stage-I three-branch reconstruction model, Stage-II mapping networks, sampling, metrics and
the papermill notebook pipeline. Importing the package does no work and imports no optional
dependency; import submodules (``dpiglib.data.pose``, ``dpiglib.data.datasets`` ...) for the API.
"""

__version__ = "0.1.0"

from dpiglib.config import PRESET_NAMES, RunConfig, get_preset  # noqa: E402,F401

__all__ = ["__version__", "RunConfig", "get_preset", "PRESET_NAMES", "list_pretrained",
           "load_pretrained"]


def list_pretrained() -> list[str]:
    """Names of the pretrained models shipped with this dpiglib (no torch import)."""
    from dpiglib.pretrained.registry import list_pretrained as names

    return names()


def load_pretrained(name: str = "synth-tiny", device: str = "auto"):
    """A shipped pretrained model as a ready :class:`~dpiglib.sampling.sampler.Sampler`.

    Imports torch on first call, not on ``import dpiglib``; see
    :func:`dpiglib.pretrained.store.load_pretrained` and ``docs/pretrained.md``.
    """
    from dpiglib.pretrained.store import load_pretrained as load

    return load(name, device)
