"""dpiglib: Disentangled Person Image Generation (Ma et al., CVPR 2018) in PyTorch.

A notebook-first kit: pose geometry, datasets (real formats and the procedural SynthPerson),
the Stage-I three-branch reconstruction model, Stage-II mapping networks, sampling, metrics and
the papermill notebook pipeline. Importing the package does no work and imports no optional
dependency; import submodules (``dpiglib.pose``, ``dpiglib.data`` ...) for the API.
"""

__version__ = "0.1.0"

from dpiglib.config import PRESET_NAMES, RunConfig, get_preset  # noqa: E402,F401

__all__ = ["__version__", "RunConfig", "get_preset", "PRESET_NAMES", "list_pretrained",
           "load_pretrained"]

_LAZY = {"list_pretrained": "dpiglib.pretrained", "load_pretrained": "dpiglib.pretrained"}


def __getattr__(name: str):
    """``dpiglib.load_pretrained`` / ``list_pretrained``, imported on first use (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dpiglib' has no attribute {name!r}")
