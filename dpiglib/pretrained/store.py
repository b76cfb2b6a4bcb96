"""Pretrained weights on disk: ``NAME.safetensors`` (fp16) and its manifest ``NAME.json``.

:func:`export_pretrained` turns a trained run directory into the two files;
:func:`read_pretrained` turns them back into a ready :class:`~dpiglib.sampling.sampler.Sampler`. The
manifest is the source of truth for the architecture: the modules are built from its config,
in fp32, and the fp16 tensors are copied in. Before anything is built the weights file's size
and sha256 are checked against the manifest, and after reading every key and shape is checked
against the modules, so a truncated, corrupted or mismatched file is one line naming it
(:class:`~dpiglib.pretrained.registry.PretrainedError`), never a half-loaded model.

The four ratios recorded in the manifest (:func:`pretrained_ratios`) are measured on a held-out
SynthPerson set nobody trains on (:func:`heldout_dataset`, seed
``dpiglib.config.PRETRAINED_HELDOUT_SEED``), from the weights *as stored* (fp16, reloaded).

File layout (safetensors keys): ``stage1.encoder.*``, ``stage1.generator.*``,
``stage1.discriminator.*`` (:class:`~dpiglib.models.stage1.Stage1Model`), ``pose_ae.*``
(:class:`~dpiglib.models.pose_ae.PoseAutoEncoder`), ``phi.<factor>.*`` (Stage-II mapping networks; the
critics are training-only and left out) and ``pose_bank`` (N, 18, 3) fp32 pixel keypoints of the
training images, whose names are the metadata entry ``pose_bank_names`` (a JSON list).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shlex
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from dpiglib.pretrained import registry
from dpiglib.pretrained.registry import PretrainedError, list_pretrained, recipe_config

__all__ = ["FORMAT", "FORMAT_VERSION", "export_pretrained", "read_pretrained", "load_pretrained",
           "read_manifest",
           "heldout_dataset", "heldout_cache_dir", "pretrained_ratios", "unseen_people"]

FORMAT = "dpiglib-pretrained"
FORMAT_VERSION = 1
_FP16_MAX = 65504.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith((".json",
                                                                              ".safetensors")):
        raise PretrainedError(f"pretrained model name {name!r} is not a plain file name (letters, "
                              "digits, '.', '_', '-'; no extension), e.g. 'synth-tiny'")
    return name


def _paths(folder: str | os.PathLike, name: str) -> tuple[Path, Path]:
    folder = Path(folder)
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def _file_entry(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"sha256": h.hexdigest(), "bytes": path.stat().st_size}


# --------------------------------------------------------------------------------------------
# What a Sampler needs, as one flat dict of tensors
# --------------------------------------------------------------------------------------------


def _modules(stage1, pose_ae, phi) -> list[tuple[str, torch.nn.Module]]:
    return [("stage1.", stage1), ("pose_ae.", pose_ae), ("phi.", phi)]


def _storage(t: torch.Tensor) -> torch.Tensor:
    """fp16 for floating tensors that fit it, else fp32; integer buffers unchanged."""
    t = t.detach().cpu()
    if not t.is_floating_point():
        return t.contiguous().clone()
    if t.numel() and float(t.abs().max()) > _FP16_MAX:
        return t.float().contiguous().clone()  # fp16 would overflow (never seen; kept exact)
    return t.to(torch.float16).contiguous().clone()


def _build_modules(cfg, factors: Sequence[str]):
    """Stage-I model, pose auto-encoder and Φ per factor at initialisation (global RNG kept)."""
    from dpiglib.models.mapping import build_mapping_networks
    from dpiglib.models.pose_ae import PoseAutoEncoder
    from dpiglib.models.stage1 import Stage1Model

    with torch.random.fork_rng(devices=[]):  # loading must not move the user's torch seed
        torch.manual_seed(0)
        stage1, pae = Stage1Model(cfg.model), PoseAutoEncoder(cfg.model)
        phis = build_mapping_networks(cfg.model)
    unknown = [f for f in factors if f not in phis]
    if unknown:
        raise ValueError(f"Stage-II factor(s) {unknown} are not in this architecture "
                         f"({', '.join(phis)})")
    return stage1, pae, torch.nn.ModuleDict({f: phis[f] for f in factors})


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest ``NAME.json`` as a dict (checked to be a dpiglib pretrained manifest)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedError(f"{path} not found: a pretrained model is NAME.json next to "
                              "NAME.safetensors; restore it or export the run again")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PretrainedError(f"{path} is not readable JSON ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:100]}); restore it or export the run "
                              "again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PretrainedError(f"{path} is not a dpiglib pretrained manifest (no \"format\": "
                              f"\"{FORMAT}\"); point at the folder holding NAME.json and "
                              "NAME.safetensors written by export_pretrained")
    if data.get("format_version") != FORMAT_VERSION:
        raise PretrainedError(f"{path} has format_version {data.get('format_version')!r}; this "
                              f"dpiglib reads {FORMAT_VERSION} (update dpiglib or re-export)")
    return data


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]).get("__metadata__") or {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:100]}" if text else type(exc).__name__


def read_pretrained(folder: str | os.PathLike, name: str, device: str = "auto"):
    """Load ``folder/NAME.safetensors`` (checked against ``NAME.json``) into a ready Sampler.

    Args:
        folder: the folder holding both files (an export folder, or the shipped weights).
        name: the model name (file stem).
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"mps"``.

    Returns:
        :class:`~dpiglib.sampling.sampler.Sampler` in fp32 with the pose bank set; its ``pretrained``
        attribute holds the manifest (config, steps, ratios …) plus ``folder``.

    Raises:
        PretrainedError: a file missing; the weights' size or sha256 differing from the manifest
            (truncated, corrupted or replaced); an unreadable safetensors file; or weights that
            do not fit the manifest's architecture (missing / unexpected keys, other shapes).
    """
    from safetensors.torch import load as load_safetensors

    from dpiglib.config import ConfigError, config_from_dict
    from dpiglib.sampling.sampler import Sampler

    _check_name(name)
    wpath, jpath = _paths(folder, name)
    manifest = read_manifest(jpath)
    entry = (manifest.get("files") or {}).get(wpath.name)
    if not isinstance(entry, dict) or not {"sha256", "bytes"} <= set(entry):
        raise PretrainedError(f"{jpath} records no sha256 and size for {wpath.name}; export the "
                              "run again")
    if not wpath.is_file():
        raise PretrainedError(f"{wpath} not found (its manifest {jpath.name} is there); restore "
                              "the weights file or export the run again")
    size = wpath.stat().st_size
    if size != int(entry["bytes"]):
        raise PretrainedError(f"{wpath} is truncated or was replaced: {size} bytes, its manifest "
                              f"{jpath.name} says {entry['bytes']}; download or export it again")
    data = wpath.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise PretrainedError(f"{wpath} is corrupted or was changed: sha256 {digest[:16]}…, its "
                              f"manifest {jpath.name} says {str(entry['sha256'])[:16]}…; download "
                              "or export it again")
    try:
        tensors = load_safetensors(data)
        meta = _safetensors_metadata(data)
    except Exception as exc:  # the Rust reader's errors have no common base class
        raise PretrainedError(f"{wpath} is not a readable safetensors file ({_first_line(exc)}); "
                              "download or export it again") from None
    try:
        cfg = config_from_dict(manifest["config"])
        factors = list((manifest.get("stage2") or {}).get("factors")
                       or sorted({k.split(".")[1] for k in tensors if k.startswith("phi.")}))
        stage1, pae, phi = _build_modules(cfg, factors)
    except (ConfigError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise PretrainedError(f"{jpath}: its config cannot build the model ({_first_line(exc)}); "
                              "restore the manifest or export the run again") from None
    _load_into(_modules(stage1, pae, phi), tensors, wpath, jpath)
    bank = tensors.get("pose_bank")
    names = None
    if meta.get("pose_bank_names"):
        try:
            names = json.loads(meta["pose_bank_names"])
        except ValueError:
            names = None
    sampler = Sampler(stage1, pae, phi, cfg, device)
    if bank is not None and len(bank):
        if names is not None and len(names) != len(bank):
            names = None
        sampler.set_pose_bank(bank.float().numpy(), names)
    sampler.pretrained = {**manifest, "folder": str(Path(folder).resolve()), "name": name}
    return sampler


def _load_into(modules, tensors: dict[str, torch.Tensor], wpath: Path, jpath: Path) -> None:
    """Copy the file's tensors into the modules after checking every key and shape."""
    expected: dict[str, tuple[int, ...]] = {}
    for prefix, mod in modules:
        for k, v in mod.state_dict().items():
            expected[prefix + k] = tuple(v.shape)
    got = {k: tuple(t.shape) for k, t in tensors.items() if k != "pose_bank"}
    missing = sorted(expected.keys() - got.keys())
    unexpected = sorted(got.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & got.keys() if expected[k] != got[k])
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with other shapes (e.g. {k}: file {list(got[k])}, "
                         f"model {list(expected[k])})")
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise PretrainedError(f"{wpath} does not fit the architecture in {jpath.name}: tensors "
                              f"{'; '.join(parts)}; the two files belong to different models: "
                              "restore both, or export the run again")
    for prefix, mod in modules:
        state = {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)}
        own = mod.state_dict()
        state = {k: (t.to(own[k].dtype) if t.is_floating_point() else t) for k, t in state.items()}
        mod.load_state_dict(state, strict=True)


# --------------------------------------------------------------------------------------------
# Held-out set and ratios
# --------------------------------------------------------------------------------------------


def heldout_cache_dir() -> Path:
    """Default parent folder of the held-out sets: ``$DPIGLIB_CACHE`` or the user cache dir."""
    env = os.environ.get("DPIGLIB_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "dpiglib"


def _heldout_params(cfg, seed: int | None = None) -> dict[str, Any]:
    from dpiglib.config import PRETRAINED_HELDOUT, PRETRAINED_HELDOUT_SEED

    return {"identities": int(PRETRAINED_HELDOUT["identities"]),
            "images_per_identity": int(PRETRAINED_HELDOUT["images_per_identity"]),
            "test_identities": int(PRETRAINED_HELDOUT["test_identities"]),
            "size": [int(v) for v in cfg.data.image_size], "style": str(cfg.synth.style),
            "seed": int(PRETRAINED_HELDOUT_SEED if seed is None else seed)}


def heldout_dataset(cache_dir: str | os.PathLike | None = None, cfg: Any = None,
                    progress: bool = True, seed: int | None = None) -> Path:
    """Render (once) the held-out SynthPerson set the pretrained ratios are measured on.

    ``generate_synthperson(identities=2, images_per_identity=8, test_identities=32, seed=
    PRETRAINED_HELDOUT_SEED)`` at the model's image size and style; its ``test`` split holds 32
    identities no pretrained model trained on. Deterministic; a complete folder is reused.

    Args:
        cache_dir: parent folder (default :func:`heldout_cache_dir`, ``~/.cache/dpiglib``); the
            set goes to ``cache_dir/heldout-<hash of its parameters>``.
        cfg: a :class:`~dpiglib.config.RunConfig` or a Sampler (size and style); default the
            ``synth-tiny`` recipe's.
        progress: tqdm bar while rendering.
        seed: another draw of the same kind of set (``scripts/pretrained_spread.py``); default
            ``PRETRAINED_HELDOUT_SEED``, the set the shipped ratios are reported on.

    Returns:
        the dataset root (for :class:`~dpiglib.data.datasets.PersonDataset`, split ``"test"``).
    """
    if cfg is None:
        cfg = recipe_config("synth-tiny")
    cfg = getattr(cfg, "cfg", cfg)  # a Sampler
    return _cached_synthperson("heldout", _heldout_params(cfg, seed), cache_dir, progress,
                               "the held-out set")


def _cached_synthperson(prefix: str, params: dict[str, Any], cache_dir, progress: bool,
                        what: str) -> Path:
    """Render (once) a SynthPerson set into ``cache_dir/<prefix>-<hash of params>``."""
    from dpiglib.synth.dataset import generate_synthperson

    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    root = Path(cache_dir).expanduser() if cache_dir is not None else heldout_cache_dir()
    root = root / f"{prefix}-{key}"
    try:
        generate_synthperson(root, int(params["identities"]), int(params["images_per_identity"]),
                             int(params["test_identities"]), size=tuple(params["size"]),
                             seed=int(params["seed"]), style=str(params["style"]),
                             progress=progress,
                             overwrite=True)  # our own folder: a stale one is re-rendered
    except OSError as exc:
        raise PretrainedError(f"cannot write {what} to {root} ({exc.strerror or exc}); "
                              "pass another cache_dir or set DPIGLIB_CACHE") from None
    return root


def unseen_people(sampler, run_root: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None,
                  progress: bool = False) -> tuple[Path, str]:
    """SynthPerson test people the pretrained model never trained on, at the model's image size.

    The notebooks put the pretrained model beside a run's own model, on the run's test people
    where that is honest:

    - ``run_root`` is a complete SynthPerson set not drawn with the pretrained training seed
      (``PRETRAINED_SEED``; its people would overlap), at the model's size: ``run_root`` itself;
    - the same, at another size: the same set re-rendered at the model's size into the cache.
      A SynthPerson person, pose and background come from the seed alone, so image *i* of the
      re-rendered test split is image *i* of the run's, drawn with more (or fewer) pixels;
    - otherwise (real data, no run dataset, the reserved seed): :func:`heldout_dataset`.

    Args:
        sampler: the pretrained model (a Sampler) or its config: size and style.
        run_root: the run's dataset folder, or None.
        cache_dir: parent folder of re-rendered sets (default :func:`heldout_cache_dir`).

    Returns:
        ``(root, what)``: the dataset root (split ``"test"``) and a short description of it.
    """
    from dpiglib.config import PRETRAINED_SEED
    from dpiglib.synth.dataset import SynthError, dataset_params

    cfg = getattr(sampler, "cfg", sampler)
    size = [int(v) for v in cfg.data.image_size]
    params = None
    if run_root is not None:
        try:
            params = dataset_params(run_root)
            if int(params["seed"]) == PRETRAINED_SEED or int(params["test_identities"]) < 1:
                params = None
        except (SynthError, KeyError, TypeError, ValueError):
            params = None  # not a (complete) SynthPerson set: the held-out set below
    if params is None:
        root = heldout_dataset(cache_dir=cache_dir, cfg=cfg, progress=progress)
        return root, "held-out SynthPerson images (people the pretrained model never saw)"
    if [int(v) for v in params["size"]] == size:
        return Path(run_root), "test images of this run (people the pretrained model never saw)"
    root = _cached_synthperson("people", {**params, "size": size}, cache_dir, progress,
                               "the re-rendered test people")
    h, w = size
    return root, (f"test images of this run's people drawn at {h}×{w}, the pretrained model's "
                  "size (people it never saw)")


def pretrained_scores(sampler, root: str | os.PathLike, pairs: int | None = None,
                      progress: bool = True):
    """The two score frames the held-out ratios are made of: ``(model, copy_source)``.

    ``model`` is :func:`~dpiglib.metrics.ground_truth.ground_truth_scores` of ``sampler`` on the
    test split at ``root`` (every task, with the leakage rows); ``copy_source`` is
    :class:`~dpiglib.metrics.ground_truth.CopySourceModel`'s on the same pairs (``pairs`` per task,
    default ``PRETRAINED_HELDOUT["pairs"]`` = 128) for pose transfer and fg swap.
    """
    from tqdm.auto import tqdm

    from dpiglib.config import PRETRAINED_HELDOUT
    from dpiglib.metrics.ground_truth import CopySourceModel, SamplerModel, ground_truth_scores

    n = int(PRETRAINED_HELDOUT["pairs"] if pairs is None else pairs)
    with tqdm(total=2, desc="held-out ratios", unit="model", disable=not progress) as bar:
        model = ground_truth_scores(SamplerModel(sampler, root, "test"), root, "test", n=n)
        bar.update(1)
        copy = ground_truth_scores(CopySourceModel(root, "test"), root, "test", n=n,
                                   tasks=("pose_transfer", "fg_swap"), leakage=False)
        bar.update(1)
    return model, copy


def pretrained_ratios(sampler, root: str | os.PathLike, pairs: int | None = None,
                      progress: bool = True) -> dict[str, float]:
    """The four ground-truth ratios of ``sampler`` on the held-out set at ``root`` (split test).

    :func:`pretrained_scores`, then :func:`~dpiglib.metrics.ground_truth.ground_truth_ratios`.
    """
    from dpiglib.metrics.ground_truth import ground_truth_ratios

    return ground_truth_ratios(*pretrained_scores(sampler, root, pairs, progress))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _logged_seconds(path: Path) -> float | None:
    """Wall seconds of a training log: each resumed segment's last ``time``, added up."""
    import csv

    if not path.is_file():
        return None
    total, last = 0.0, None
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                t = float(row["time"])
            except (KeyError, TypeError, ValueError):
                continue
            if last is not None and t < last:  # the clock restarted: a resumed segment
                total += last
            last = t
    return round(total + (last or 0.0), 1)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _machine(device: str | None) -> dict[str, Any]:
    from dpiglib.core.runtime_info import cpu_count, device_description

    info = {"cpu": _cpu_model(), "cores": cpu_count(), "torch": str(torch.__version__),
            "device": device or "unknown", "platform": platform.platform(),
            "python": platform.python_version()}
    if device and device.startswith("cuda"):
        info["gpu"] = device_description(device).get("name")
    return info


def _newest_step(directory: Path, kind: str) -> int | None:
    from dpiglib.core.checkpoint import CheckpointManager

    found = CheckpointManager(directory).load_newest(kind) if directory.is_dir() else None
    return None if found is None else int(found[0]["step"])


def _load_run(run_dir: Path):
    """(Sampler with pose bank, Stage-II model) of a finished run, or PretrainedError."""
    from dpiglib.config import ConfigError, architecture_fingerprint, config_from_dict
    from dpiglib.core.checkpoint import CheckpointError
    from dpiglib.data.prepare import dataset_root
    from dpiglib.sampling.sampler import Sampler
    from dpiglib.training.stage1 import load_stage1
    from dpiglib.training.stage2 import load_stage2

    if not (run_dir / "stage1").is_dir():
        raise PretrainedError(f"cannot export {run_dir}: not a trained run directory (no stage1/ "
                              "folder); train it first (dpig pretrained build NAME --out DIR)")
    try:
        stage1, pae, cfg = load_stage1(run_dir, "cpu")
        if pae is None:
            raise PretrainedError(f"{run_dir} has no trained pose auto-encoder "
                                  "(stage1/pose_checkpoints); train it with train_stage1(..., "
                                  "model='pose') before exporting")
        s2 = load_stage2(run_dir, stage1=(stage1, pae), device="cpu")
    except CheckpointError as exc:
        raise PretrainedError(f"cannot export {run_dir}: {exc}") from None
    # RUN_DIR/config.json is what the run's last phases trained with (a resumed run may have
    # changed step counts after Stage-I's checkpoints were written); same architecture only
    try:
        current = config_from_dict(json.loads((run_dir / "config.json").read_text())["config"])
    except (OSError, ValueError, KeyError, ConfigError):
        current = None
    if current is not None and architecture_fingerprint(current) == architecture_fingerprint(cfg):
        cfg = current
    sampler = Sampler(stage1, pae, s2, cfg, "cpu")
    try:
        root = dataset_root(cfg, run_dir, "")
        sampler.load_pose_bank(root)
    except Exception as exc:
        raise PretrainedError(f"cannot export {run_dir}: the pose bank comes from the run's "
                              f"training annotations, which cannot be read ({_first_line(exc)}); "
                              "restore RUN_DIR/data or rerun the recipe (it re-renders it)") from None
    return sampler, s2


def export_pretrained(run_dir: str | os.PathLike, name: str, out_dir: str | os.PathLike,
                      command: str | Sequence[str] = "", extra: dict[str, Any] | None = None, *,
                      pairs: int | None = None, device: str = "cpu",
                      heldout_cache: str | os.PathLike | None = None,
                      trained_on: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Write ``out_dir/NAME.safetensors`` and ``out_dir/NAME.json`` from a trained run directory.

    Args:
        run_dir: a run with Stage-I (image model and pose auto-encoder) and Stage-II trained,
            and its dataset (the pose bank is the training set's poses).
        name: the model name (file stem), e.g. ``"synth-tiny"``.
        out_dir: folder for the two files (created).
        command: the command that trained the run (recorded as text).
        extra: more JSON-able facts, stored under ``"extra"`` (e.g. this build's phase times).
        pairs: held-out pairs per task for the ratios (default 128, ``PRETRAINED_HELDOUT``).
        device: where the ratios are scored.
        heldout_cache: parent folder of the held-out set (see :func:`heldout_dataset`).
        trained_on: the training device, recorded as ``machine.device`` (default: ``device``).
        progress: tqdm bars.

    Returns:
        the manifest (as written to ``NAME.json``).

    Raises:
        PretrainedError: the run is incomplete, or a file cannot be written.
    """
    from safetensors.torch import save as save_safetensors

    from dpiglib.config import PRETRAINED_HELDOUT, config_to_dict
    from dpiglib.core.fileio import atomic_write_bytes, atomic_write_json
    from dpiglib.core.runtime_info import git_commit, package_versions

    _check_name(name)
    run_dir, out = Path(run_dir), Path(out_dir)
    t0 = time.perf_counter()
    sampler, s2 = _load_run(run_dir)
    cfg = sampler.cfg
    tensors: dict[str, torch.Tensor] = {}
    for prefix, mod in _modules(sampler.stage1, sampler.pose_ae, sampler.phi):
        for k, v in mod.state_dict().items():
            tensors[prefix + k] = _storage(v)
    tensors["pose_bank"] = sampler.pose_bank.float().contiguous().clone()
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "name": name,
            "pose_bank_names": json.dumps(sampler.pose_bank_names or [])}
    wpath, jpath = _paths(out, name)
    try:
        atomic_write_bytes(wpath, save_safetensors(tensors, metadata=meta))
        os.chmod(wpath, 0o644)  # package data / shared folders: readable by everyone
    except OSError as exc:
        raise PretrainedError(f"cannot write {wpath}: {exc.strerror or exc}") from None
    factors = list(sampler.phi)
    s1_dir = run_dir / "stage1"
    n_params = sum(t.numel() for k, t in tensors.items() if k != "pose_bank")
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {wpath.name: _file_entry(wpath)},
        "weights": {"storage": "float16", "parameters": n_params,
                    "modules": ["stage1.encoder", "stage1.generator", "stage1.discriminator",
                                "pose_ae"] + [f"phi.{f}" for f in factors],
                    "pose_bank": int(len(sampler.pose_bank))},
        "stage2": {"factors": factors, "noise_std": sampler.noise_std},
        "seed": int(cfg.seed),
        "command": command if isinstance(command, str) else shlex.join(map(str, command)),
        "steps": {"stage1_image": _newest_step(s1_dir / "checkpoints", "stage1"),
                  "stage1_pose": _newest_step(s1_dir / "pose_checkpoints", "pose"),
                  "stage2": {f: min(int(s2.step), cfg.stage2.pose_steps if f == "pose"
                                    else cfg.stage2.steps) for f in factors}},
        "wall_seconds": {"stage1_image": _logged_seconds(s1_dir / "log.csv"),
                         "stage1_pose": _logged_seconds(s1_dir / "pose_log.csv"),
                         "stage2": _logged_seconds(run_dir / "stage2" / "log.csv")},
        "machine": _machine(trained_on or device),
        "kit": {"version": package_versions(("dpiglib",))["dpiglib"], "git": git_commit()},
        "heldout": {**_heldout_params(cfg), "split": "test",
                    "pairs": int(PRETRAINED_HELDOUT["pairs"] if pairs is None else pairs)},
        "ratios": None,
        "config": config_to_dict(cfg),
        "extra": dict(extra or {}),
    }
    try:
        atomic_write_json(jpath, manifest, indent=2, default=str)
        # the ratios of the weights as stored: the fp16 file, read back like a user would
        stored = read_pretrained(out, name, device)
        root = heldout_dataset(heldout_cache, cfg, progress=progress)
        manifest["ratios"] = pretrained_ratios(stored, root, pairs, progress=progress)
        manifest["export_seconds"] = round(time.perf_counter() - t0, 1)
        atomic_write_json(jpath, manifest, indent=2, default=str)
        os.chmod(jpath, 0o644)
    except OSError as exc:
        raise PretrainedError(f"cannot write {jpath}: {exc.strerror or exc}") from None
    return manifest


def load_pretrained(name: str = "synth-tiny", device: str = "auto") -> Any:
    """A shipped pretrained model as a ready :class:`~dpiglib.sampling.sampler.Sampler` (pose bank set).

    Args:
        name: one of :func:`list_pretrained` (the recipes are ``dpiglib.config.PRETRAINED_RECIPES``).
        device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"mps"``.

    Raises:
        PretrainedError: unknown name, weights not shipped (the message names the missing file
            and how to build it), or a damaged file (see
            :func:`dpiglib.pretrained.store.read_pretrained`).
    """
    from dpiglib.config import PRETRAINED_RECIPES

    shipped = list_pretrained()
    if name not in shipped:
        if name not in PRETRAINED_RECIPES:
            raise PretrainedError(
                f"unknown pretrained model {name!r}; shipped: {', '.join(shipped) or 'none'}; "
                f"recipes (dpig pretrained build NAME): {', '.join(PRETRAINED_RECIPES)}")
        missing = [p for p in (registry.WEIGHTS_DIR / f"{name}.safetensors", registry.WEIGHTS_DIR / f"{name}.json")
                   if not p.is_file()]
        raise PretrainedError(
            f"{missing[0]} not found: this copy of dpiglib ships no {name!r} weights; build them "
            f"with `dpig pretrained build {name} --out DIR` and load them with "
            f"dpiglib.pretrained.store.read_pretrained('DIR/export', {name!r})")
    return read_pretrained(registry.WEIGHTS_DIR, name, device)
