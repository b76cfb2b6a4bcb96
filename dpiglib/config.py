"""Configuration: the one home of every number in dpiglib.

A run is described by one frozen :class:`RunConfig` made of five sections (data, synth, model,
stage1, stage2, eval). Named presets (``synth-tiny``, ``synth``, ``market``, ``deepfashion``)
are built from a base with :func:`dataclasses.replace`, the way nanoGPT keeps override files and
stylegan2-ada keeps its ``cfg_specs`` table.

Faithful values follow ``docs/original_code.md`` (cited as "orig §3.6"); every deviation from the original
code is a named field whose faithful value is the default in the paper presets.

Notebook parameters and ``dpig run -p NAME VALUE`` overrides use *flat* names
(``stage1_steps``, ``synth_identities``, ``model_width``): the section prefix followed by the
field name. :func:`flat_parameters` lists them and :func:`get_preset` accepts them.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = [
    "DataConfig",
    "SynthConfig",
    "SYNTH_STYLES",
    "STAGE1_COMPILE_CHOICES",
    "ModelConfig",
    "Stage1Config",
    "Stage2Config",
    "EvalConfig",
    "RunConfig",
    "PRESETS",
    "PRESET_NAMES",
    "ConfigError",
    "get_preset",
    "flat_parameters",
    "config_to_dict",
    "config_from_dict",
    "architecture_fingerprint",
    "apply_overrides",
    "resolve_run_config",
    "write_run_config",
    "record_resolved",
    "PRETRAINED_SEED",
    "PRETRAINED_HELDOUT_SEED",
    "PRETRAINED_HELDOUT",
    "PRETRAINED_RECIPES",
]


class ConfigError(ValueError):
    """An unknown preset, unknown parameter name or wrongly typed value."""


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataConfig:
    """What the images are and how keypoints become network inputs (orig §2)."""

    dataset: str = "market"  # "synth" | "market" | "deepfashion": which reader and file prefix
    image_height: int = 128  # H in pixels; Market 128, DeepFashion 256, synth-tiny 64
    image_width: int = 64  # W in pixels; Market 64, DeepFashion 256, synth-tiny 32
    heatmap_radius: int = 4  # solid-disk radius of the 18 pose channels (orig §2.3); tiny: 2
    mask_radius: int = 7  # pose-mask radius splitting fg/bg features (orig §2.4, "r6" = 7); tiny: 4
    eval_mask_radius: int = 7  # mask radius for mask-SSIM/IS (Market 7, DF 4; orig §6.2)
    box_style: str = "market"  # part-box rule of orig §2.5: "market" | "deepfashion"
    flip: bool = True  # on-the-fly horizontal flip (replaces the original's *_flip folders)
    deepfashion_fit: str = "pad"  # 256×176 PATN crops → 256×256: "pad" (white, +40 px) | "resize"
    num_workers: int = -1  # DataLoader workers; -1 = auto (0 on CPU/MPS, up to 6 on CUDA), 0 = main process

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.image_height, self.image_width)



#: SynthPerson render styles: "market" (street-like gradient/texture/clutter backgrounds),
#: "deepfashion" (plain light backgrounds, some upper-body close-ups), "simple" (Market poses on
#: calm plain or gradient backgrounds: the synth-tiny preset's, so a tiny model spends its steps
#: on the person).
SYNTH_STYLES: tuple[str, ...] = ("market", "deepfashion", "simple")

#: ``Stage1Config.compile``: "off" (eager), "default" (torch.compile), "graphs" (one CUDA graph,
#: dpiglib/training/graphs.py).
STAGE1_COMPILE_CHOICES: tuple[str, ...] = ("off", "default", "graphs")


@dataclass(frozen=True)
class SynthConfig:
    """SynthPerson, the procedural dataset with known factors (generated into RUN_DIR/data)."""

    identities: int = 200  # training identities rendered
    test_identities: int = 40  # held-out identities (test split)
    images_per_identity: int = 8  # poses/backgrounds per identity
    style: str = "market"  # one of SYNTH_STYLES


@dataclass(frozen=True)
class ModelConfig:
    """Stage-I and Stage-II architecture (orig §3.1-3.5, orig §3.7, orig §4.1-4.2).

    Changing any field here changes the parameter shapes; checkpoints record these fields and
    refuse to load into a different architecture.
    """

    # The image size is stored once, in DataConfig: inside a RunConfig these two are a copy
    # that RunConfig.__post_init__ sets from cfg.data (never a parameter, never serialised). A
    # ModelConfig built on its own (tests, scripts) takes them directly.
    image_height: int = field(default=128, metadata={"derived_from": "data"})
    image_width: int = field(default=64, metadata={"derived_from": "data"})
    width: int = 128  # n = conv_hidden_num (orig §3); every conv width is a multiple of it
    encoder_levels: int = 5  # stages of the part (ROI) pyramid: Market 5, DF 7 (orig §3.1-3.2)
    background_levels: int = 5  # stages of the background pyramid (Market 5)
    generator_levels: int = 5  # U-Net levels (orig §3.4): Market 5, DF 5 (R = 6-1)
    roi_size: int = 48  # crop_and_resize output S×S: Market 48, DF 64 (orig B5), tiny 24
    part_dim: int = 32  # embedding per body part; 7 parts → fg 224-d
    num_parts: int = 7  # the first 7 of the 37 boxes (orig §2.5)
    background_dim: int = 128  # bg embedding (z_num·4); 0 = no background branch (DF)
    mask_features: bool = True  # multiply stem features by the pose mask (Market); DF: False
    bottleneck_dim: int = 64  # generator FC bottleneck (orig §3.4)
    disc_width: int = 64  # first DCGAN conv width (orig §3.5)
    disc_head: str = "market"  # "market" (1 logit) | "deepfashion" (8-logit reshape) | "clean"
    disc_batching: str = "separate"  # "separate" real/fake BN batches (Market) | "joint" (DF)
    pose_dim: int = 32  # pose embedding (orig §3.7)
    pose_hidden: int = 512  # FC width of the pose auto-encoder
    pose_blocks: int = 4  # residual FC blocks in pose encoder and decoder
    mapping_width_fg: int = 512  # Φ_fg / Φ_app hidden width (orig §4.1)
    mapping_width_bg: int = 256  # Φ_bg hidden width (orig §4.1: 256, not 512)
    mapping_width_pose: int = 512  # Φ_pose hidden width
    mapping_blocks: int = 4  # residual FC blocks in Φ
    critic_width: int = 512  # FC critic width (orig §4.2)
    critic_hidden_layers: int = 3  # 512→512 layers after the first (orig §4.2)

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.image_height, self.image_width)

    @property
    def fg_dim(self) -> int:
        return self.part_dim * self.num_parts

    @property
    def embedding_dim(self) -> int:
        """Appearance embedding fed to the generator: 352 Market, 224 DF."""
        return self.fg_dim + self.background_dim


@dataclass(frozen=True)
class Stage1Config:
    """Stage-I training (orig §3.6-3.7)."""

    steps: int = 120_000  # image-model steps (run_market_train.sh; paper says ~70k)
    batch_size: int = 16  # per process
    lr: float = 2e-5  # Adam learning rate for G (+encoder) and D
    beta1: float = 0.5
    beta2: float = 0.999
    lr_halve_every: int = 50_000  # lr × 0.5 every this many steps; 0 disables
    lambda_l1: float = 20.0  # weight of mean|G − x| (hard-coded ×20 in the original)
    pose_ae_steps: int = 60_000  # pose auto-encoder steps (Market 60k, DF 120k)
    pose_ae_batch_size: int = 64  # Market 64, DF 16
    pose_ae_lr: float = 2e-5
    lambda_pose: float = 20.0  # weight of the pose-AE MSE
    grad_accum: int = 1  # micro-batches per optimiser step
    amp: str = "auto"  # "auto": bf16 on CUDA if supported, else fp16; bf16 on CPUs with native bf16, else fp32 | "bf16" | "fp16" | "off"
    channels_last: bool = True  # applied on CUDA and CPU (CPU: ~1.2-1.4x faster tiny steps); not MPS
    # "off" (eager) | "default" (torch.compile the G side and D; CUDA) | "graphs" (the whole
    # step as one CUDA graph at the fixed batch shape, dpiglib/training/graphs.py; CUDA, bf16 or
    # fp32, one process). Elsewhere both fall back to eager with a note. Configs written when
    # this was a bool still load (false -> "off", true -> "default").
    compile: str = "off"
    log_every: int = 200  # steps between CSV log rows (and NaN checks)
    sample_every: int = 2_000  # steps between sample-grid PNGs
    checkpoint_every: int = 6_000  # steps between checkpoints (original: 200 × 30)
    keep_last: int = 3  # numbered checkpoints kept besides `latest`
    val_every: int = 2_000  # steps between held-out reconstruction scores
    val_images: int = 64  # held-out images scored each time


@dataclass(frozen=True)
class Stage2Config:
    """Stage-II mapping networks (orig §4.3; bugs orig B1-B5, orig B12-B13 of orig §7)."""

    steps: int = 120_000  # appearance Φ steps (Market model 3)
    batch_size: int = 32
    pose_steps: int = 60_000  # pose Φ steps (Market model 4)
    pose_batch_size: int = 64
    objective: str = "wgan-clip"  # "wgan-clip" (original, RMSProp) | "wgan-gp" (Adam), orig B12
    lr: float = 2e-5
    clip: float = 0.01  # critic weight clipping (wgan-clip)
    critic_steps: int = 5  # critic updates per Φ update
    gp_lambda: float = 10.0  # gradient-penalty weight (wgan-gp)
    gp_beta1: float = 0.5
    gp_beta2: float = 0.9
    noise_std: float = 0.2  # z ~ N(0, 0.2²) (orig B13)
    lr_halve_every: int = 50_000
    log_every: int = 200
    checkpoint_every: int = 6_000
    keep_last: int = 3


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation (orig §6)."""

    protocols: tuple[str, ...] = ("dpig", "clean")  # metric presets, never mixed in one column
    pairs: int = 0  # test pairs scored; 0 = every pair of the pairs CSV, each once (orig B17)
    batch_size: int = 32
    decode_real_pose: bool = False  # orig B1 faithful-bug option: "sampled" pose = AE(real pose)


@dataclass(frozen=True)
class RunConfig:
    preset: str = "market"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        # the networks are built for the data's image size: one home (DataConfig), no sync
        size = {"image_height": self.data.image_height, "image_width": self.data.image_width}
        if (self.model.image_height, self.model.image_width) != self.data.image_size:
            object.__setattr__(self, "model", replace(self.model, **size))


# --------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------

_MARKET = RunConfig(preset="market")

_DEEPFASHION = RunConfig(
    preset="deepfashion",
    data=DataConfig(
        dataset="deepfashion",
        image_height=256,
        image_width=256,
        heatmap_radius=4,  # the same radius-4 disk at 256×256 (orig §2.3 item 3)
        mask_radius=4,
        eval_mask_radius=4,
        box_style="deepfashion",
    ),
    synth=SynthConfig(style="deepfashion"),
    model=ModelConfig(
        encoder_levels=7,  # repeat_num 6+1 (orig §3.2)
        background_levels=0,
        generator_levels=5,  # R = 6−1 (orig §3.4)
        roi_size=64,  # orig B5: 64 everywhere
        background_dim=0,
        mask_features=False,
        disc_head="deepfashion",
        disc_batching="joint",
    ),
    stage1=Stage1Config(batch_size=6, pose_ae_steps=120_000, pose_ae_batch_size=16),
    stage2=Stage2Config(batch_size=16, pose_steps=60_000, pose_batch_size=32),
)

_SYNTH = replace(
    _MARKET,
    preset="synth",
    data=replace(_MARKET.data, dataset="synth"),
    synth=SynthConfig(identities=600, test_identities=100, images_per_identity=12),
    stage1=replace(_MARKET.stage1, steps=20_000, pose_ae_steps=10_000, sample_every=1_000,
                   checkpoint_every=2_000, val_every=1_000),
    stage2=replace(_MARKET.stage2, steps=10_000, pose_steps=10_000),
)

# synth-tiny: 64×32 on CPU in minutes. Radii scale by H/128 (docs/conventions.md: heatmap 2, mask 4);
# 4 levels = log2(64) − 2; ROI crop 24 so the part pyramid ends at 3×3 as in Market.
_SYNTH_TINY = RunConfig(
    preset="synth-tiny",
    data=DataConfig(
        dataset="synth",
        image_height=64,
        image_width=32,
        heatmap_radius=2,
        mask_radius=4,
        eval_mask_radius=4,
        box_style="market",
    ),
    # "simple" (plain/gradient backgrounds): on cluttered Market-style backgrounds the tiny model
    # spends its few hundred steps on the background (docs/presets.md, measured choice)
    synth=SynthConfig(identities=60, test_identities=12, images_per_identity=8, style="simple"),
    model=ModelConfig(
        width=16,  # measured choice (docs/presets.md): 0.09 CPU-s/step at batch 8; 24 and 32 learned slower per second
        encoder_levels=4,
        background_levels=4,
        generator_levels=4,
        roi_size=24,
        disc_width=32,
        disc_head="clean",  # 64×32 does not reshape to the original's 16,384 features
        pose_hidden=256,
        mapping_width_fg=256,
        mapping_width_bg=128,
        mapping_width_pose=256,
        critic_width=256,
    ),
    stage1=Stage1Config(
        # measured choice for ~2 CPU-minutes of training (docs/presets.md, "Session 3"): the
        # pose is the last thing a tiny model learns, after ~10k images, so the budget goes on
        # images (batch 8, channels-last CPU steps) at a constant lr. L1 weight 1000 (paper:
        # 20) leaves the adversarial term a small regulariser: with 100 its gradients slowed the
        # reconstruction (held-out L1 0.23 vs 0.18 after 1.5k steps) and painted checkerboards
        steps=1400,
        batch_size=8,
        lr=2.5e-4,  # 5e-4 learned the pose as fast but collapsed the colours to one tone
        beta1=0.9,
        lr_halve_every=0,
        lambda_l1=1000.0,
        pose_ae_steps=400,
        pose_ae_batch_size=64,
        pose_ae_lr=1e-3,
        log_every=50,
        sample_every=350,
        checkpoint_every=350,
        keep_last=2,
        val_every=200,
        val_images=32,
    ),
    stage2=Stage2Config(
        steps=300,
        batch_size=32,
        pose_steps=300,
        pose_batch_size=64,
        objective="wgan-gp",
        lr=1e-4,
        lr_halve_every=0,
        log_every=20,
        checkpoint_every=100,
        keep_last=2,
    ),
    eval=EvalConfig(protocols=("dpig", "clean"), pairs=64, batch_size=32),
)

PRESETS: dict[str, RunConfig] = {
    "synth-tiny": _SYNTH_TINY,
    "synth": _SYNTH,
    "market": _MARKET,
    "deepfashion": _DEEPFASHION,
}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)

# --------------------------------------------------------------------------------------------
# Pretrained models (dpiglib.pretrained)
# --------------------------------------------------------------------------------------------

#: The SynthPerson seed reserved for the shipped pretrained models: their training dataset and
#: initial weights. Appearance is seeded by (seed, identity), so a notebook, test or benchmark
#: that rendered with it would show the model its own training people; ``dpig run`` warns.
PRETRAINED_SEED = 2018
#: The seed of the held-out set the pretrained models' ground-truth ratios are measured on
#: (32 identities nobody trains on); also reserved.
PRETRAINED_HELDOUT_SEED = 2019
#: Held-out set for the ratios: generate_synthperson(identities=2, images_per_identity=8,
#: test_identities=32, seed=PRETRAINED_HELDOUT_SEED), scored on 128 pairs per task.
PRETRAINED_HELDOUT = dict(identities=2, images_per_identity=8, test_identities=32, pairs=128)

#: name → (preset, flat overrides). Everything not listed is the preset's value. A CPU rebuild
#: takes about four and a half hours on 2 idle cores, 4.4 h of it Stage-I (docs/pretrained.md).
PRETRAINED_RECIPES: dict[str, tuple[str, dict[str, Any]]] = {
    "synth-tiny": ("synth-tiny", dict(
        seed=PRETRAINED_SEED,
        # more people than a notebook run (60): appearance must generalise. 1,600 against 400
        # (same steps) cut both leaks by a quarter and moved pose transfer 0.02 on average over 8
        # held-out draws; 3,200 was no better than 1,600 (docs/pretrained_probes.md, "Candidates")
        synth_identities=1600,
        synth_test_identities=32,
        # measured choice (docs/pretrained_probes.md, "Candidates"): width and the L1
        # weight both moved the held-out ratios; 40-wide was ahead per step on the seed-2019 set
        # but 1.5x slower per step, and on average over 8 other held-out draws no better
        model_width=32,  # 16 is the notebook's CPU-minutes choice
        # the larger scale (probe W128): 64x32 recipes stopped improving at an 8-draw mean pose
        # transfer of about 0.58-0.60 (docs/pretrained_probes.md, "Where this scale stops
        # improving"); the same recipe at 128x64 with the Market image settings (5 levels, ROI
        # 48, radii 4/7) is lower on all four means over eight fresh draws (probe W128; it missed
        # its first rule by 0.006 on pose transfer). At width 16 (S128) it was worse on all four
        data_image_height=128, data_image_width=64, data_heatmap_radius=4, data_mask_radius=7,
        data_eval_mask_radius=7, model_encoder_levels=5, model_background_levels=5,
        model_generator_levels=5, model_roi_size=48,
        # a third lr halving: with 400 people it left pose transfer flat and raised the bg-swap
        # leak; with 1,600 it lowered all four 8-draw means (pose transfer by 0.009, lower in all
        # 8 draws). A fourth (25,000 steps) passed the same rule as a continuation of the 64x32
        # run (D1600-20k) but failed it when built from scratch (8-draw pose transfer 0.609
        # against 0.589), so it is not in the recipe (docs/pretrained_probes.md). These schedule
        # choices were measured at 64x32 and carried over to 128x64 unchanged
        stage1_steps=20_000,
        stage1_batch_size=16,
        stage1_lr_halve_every=5_000,  # 2.5e-4 → 3.1e-5 in three halvings
        stage1_lambda_l1=2000.0,  # 40-wide at 500: both L1 ratios 0.08 worse at step 2,000
        stage1_amp="bf16",  # native bf16 CPUs are 1.6x faster; autocast keeps fp32 weights
        stage1_log_every=100,
        stage1_sample_every=2_000,
        stage1_checkpoint_every=1_000,
        stage1_keep_last=6,
        stage1_val_every=1_000,
        stage1_val_images=64,
        stage1_pose_ae_steps=2_000,
        stage2_steps=1_500,
        stage2_pose_steps=1_500,
        stage2_log_every=100,
        stage2_checkpoint_every=500,
    )),
}

# Section name → flat-parameter prefix (notebook parameters and `dpig run -p`).
_SECTION_PREFIX = {
    "data": "data_",
    "synth": "synth_",
    "model": "model_",
    "stage1": "stage1_",
    "stage2": "stage2_",
    "eval": "eval_",
}


def _field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}


def flat_parameters(cfg: RunConfig | None = None) -> dict[str, Any]:
    """All flat parameter names with their values in ``cfg`` (default: the market preset).

    >>> "stage1_steps" in flat_parameters()
    True
    """
    cfg = cfg or _MARKET
    out: dict[str, Any] = {"seed": cfg.seed}
    for section, prefix in _SECTION_PREFIX.items():
        sub = getattr(cfg, section)
        for f in fields(sub):
            if "derived_from" not in f.metadata:  # the model's copy of the data's image size
                out[prefix + f.name] = getattr(sub, f.name)
    return out


def _coerce(name: str, value: Any, typ: Any) -> Any:
    """Coerce ``value`` to ``typ`` or raise ConfigError naming the parameter."""
    origin = typing.get_origin(typ)
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise TypeError
        if typ is int:
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, float) and not value.is_integer():
                raise TypeError
            if isinstance(value, str):
                return int(value.replace("_", ""))
            return int(value)
        if typ is float:
            if isinstance(value, bool):
                raise TypeError
            out = float(value)
            if math.isnan(out):  # would only surface as a NaN loss much later
                raise ValueError
            return out
        if typ is str:
            if not isinstance(value, str):
                raise TypeError
            return value
        if origin is tuple:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise TypeError
            (elem,) = {a for a in typing.get_args(typ) if a is not Ellipsis}
            return tuple(_coerce(name, v, elem) for v in value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    tname = getattr(typ, "__name__", str(typ))
    if typ is float:
        tname = "a float (not NaN)"
    raise ConfigError(f"parameter {name!r} expects {tname}, got {value!r} ({type(value).__name__})")


# Values with a closed set of choices, checked on every override.
_CHOICES = {
    ("data", "dataset"): ("synth", "market", "deepfashion"),
    ("data", "box_style"): ("market", "deepfashion"),
    ("data", "deepfashion_fit"): ("pad", "resize"),
    ("synth", "style"): SYNTH_STYLES,
    ("model", "disc_head"): ("market", "deepfashion", "clean"),
    ("model", "disc_batching"): ("separate", "joint"),
    ("stage1", "amp"): ("auto", "bf16", "fp16", "off"),
    ("stage1", "compile"): STAGE1_COMPILE_CHOICES,
    ("stage2", "objective"): ("wgan-clip", "wgan-gp"),
}


def get_preset(name: str, **overrides: Any) -> RunConfig:
    """Return the named preset with flat-name overrides applied.

    Args:
        name: one of :data:`PRESET_NAMES`.
        **overrides: flat parameter names (``stage1_steps=200``, ``seed=1``,
            ``model_width=16``). Values are coerced to the field's type (strings from a command
            line are accepted).

    Raises:
        ConfigError: unknown preset, unknown parameter (the message lists valid names) or a
            value of the wrong type.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESET_NAMES)}")
    cfg = PRESETS[name]
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Apply flat-name overrides to ``cfg`` (see :func:`get_preset`)."""
    valid = flat_parameters(cfg)
    unknown = sorted(k for k in overrides if k not in valid)
    if unknown:
        close = [m for k in unknown for m in difflib.get_close_matches(k, valid, n=1)]
        raise ConfigError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}"
            + (f" (did you mean {', '.join(map(repr, close))}?)" if close else "")
            + "; valid names: " + ", ".join(sorted(valid))
        )
    changes: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "seed":
            top["seed"] = _coerce(key, value, int)
            continue
        for section, prefix in _SECTION_PREFIX.items():
            if key.startswith(prefix):
                fname = key[len(prefix):]
                types = _field_types(type(getattr(cfg, section)))
                if fname in types:
                    val = _coerce(key, value, types[fname])
                    allowed = _CHOICES.get((section, fname))
                    if allowed is not None and val not in allowed:
                        raise ConfigError(
                            f"parameter {key!r} must be one of {', '.join(allowed)}; got {val!r}"
                        )
                    changes.setdefault(section, {})[fname] = val
                    break
    new = {s: replace(getattr(cfg, s), **c) for s, c in changes.items()}
    cfg = replace(cfg, **new, **top)
    return cfg


def _derived(cls) -> set[str]:
    return {f.name for f in fields(cls) if "derived_from" in f.metadata}


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Plain JSON-able dict (tuples become lists). Stored in checkpoints and config.json.

    The model's copy of the image size is left out: the size is stored once, under ``data``.
    """
    d = json.loads(json.dumps(dataclasses.asdict(cfg)))
    for name in _derived(ModelConfig):
        d["model"].pop(name, None)
    return d


def config_from_dict(d: dict[str, Any]) -> RunConfig:
    """Inverse of :func:`config_to_dict`; unknown keys raise ConfigError.

    Configs written before the image size was stored once (checkpoints and config.json files
    with ``model.image_height`` / ``image_width``) still load: the model's copy is dropped after
    checking it agrees with ``data``. So do configs whose ``stage1.compile`` is a bool.
    """
    d = dict(d)
    if "model" in d:
        model = dict(d["model"])
        data = d.get("data", {})
        for name in _derived(ModelConfig):
            if name in model:
                old = model.pop(name)
                want = data.get(name, getattr(DataConfig(), name))
                if old != want:
                    raise ConfigError(f"config has model.{name} {old} but data.{name} {want}; "
                                      "the networks are built for the data's image size")
        d["model"] = model
    if isinstance(d.get("stage1", {}).get("compile"), bool):  # written when it was a bool
        d["stage1"] = {**d["stage1"], "compile": "default" if d["stage1"]["compile"] else "off"}
    kwargs: dict[str, Any] = {}
    for f in fields(RunConfig):
        if f.name not in d:
            continue
        if f.name in _SECTION_PREFIX:
            cls = type(getattr(_MARKET, f.name))
            types = _field_types(cls)
            sub = dict(d[f.name])
            bad = sorted(set(sub) - set(types))
            if bad:
                raise ConfigError(f"config section {f.name!r} has unknown field(s) {bad}")
            for k, v in sub.items():
                if typing.get_origin(types[k]) is tuple:
                    sub[k] = tuple(v)
            kwargs[f.name] = cls(**sub)
        else:
            kwargs[f.name] = d[f.name]
    return RunConfig(**kwargs)


def architecture_fingerprint(cfg: RunConfig | ModelConfig) -> dict[str, Any]:
    """The fields that fix parameter shapes; checkpoints compare these on load."""
    model = cfg.model if isinstance(cfg, RunConfig) else cfg
    return dataclasses.asdict(model)


def resolve_run_config(preset: str, run_dir, seed: int | None = None, **overrides: Any) -> RunConfig:
    """The config a notebook or command should use for ``run_dir``.

    ``RUN_DIR/config.json`` is the source of truth once it exists (``dpig run`` writes it before
    any notebook, with the run's overrides). A notebook run on its own creates it. Overrides whose
    value is ``None`` mean "keep the preset's/run's value" (the notebooks' parameters cells use
    ``None`` for that). A non-None override that contradicts an existing config.json is applied
    and config.json is rewritten, so the file always describes what ran last.

    Raises:
        ConfigError: unknown preset or parameter, wrong type, or a config.json whose preset
            differs from ``preset``.
    """
    from pathlib import Path

    given = {k: v for k, v in overrides.items() if v is not None}
    if seed is not None:
        given["seed"] = seed
    path = Path(run_dir) / "config.json"
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            cfg = config_from_dict(stored["config"] if "config" in stored else stored)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a valid dpiglib config ({exc}); delete it or pick another run_dir") from exc
        if cfg.preset != preset:
            raise ConfigError(
                f"{path} was written for preset {cfg.preset!r}, not {preset!r}; use another run_dir "
                f"or preset={cfg.preset!r}"
            )
        new = apply_overrides(cfg, given)
    else:
        new = get_preset(preset, **given)
    if not path.exists() or new != cfg:
        write_run_config(new, run_dir)
    return new


def write_run_config(cfg: RunConfig, run_dir, extra: dict[str, Any] | None = None) -> None:
    """Write ``RUN_DIR/config.json`` atomically (temp file + rename)."""
    from pathlib import Path

    from dpiglib.core.fileio import atomic_write_json

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    payload = {"config": config_to_dict(cfg), **(extra or {})}
    path = run_dir / "config.json"
    if path.exists() and extra is None:
        try:  # keep run-level keys written by `dpig run` (data_root, device, ...)
            old = json.loads(path.read_text())
            payload = {**{k: v for k, v in old.items() if k != "config"}, **payload}
        except (json.JSONDecodeError, OSError):
            pass
    atomic_write_json(path, payload, sort_keys=True)


def record_resolved(run_dir, **values: Any) -> None:
    """Add run-time resolutions (e.g. ``stage1_precision="bf16"`` for ``amp="auto"``) to the
    ``resolved`` block of ``RUN_DIR/config.json``, atomically; the run summary copies it."""
    from pathlib import Path

    from dpiglib.core.fileio import atomic_write_json

    path = Path(run_dir) / "config.json"
    try:
        payload = json.loads(path.read_text()) if path.exists() else {}
    except (json.JSONDecodeError, OSError):
        payload = {}
    payload["resolved"] = {**payload.get("resolved", {}), **values}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, payload, sort_keys=True)
