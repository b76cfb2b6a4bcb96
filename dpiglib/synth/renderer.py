"""SynthPerson: a procedural person dataset whose factors are known.

Every image is rendered from three factors, the split the paper disentangles (orig §1, orig §3.1):
the **appearance** of an identity (skin, hair, upper and lower clothes with colour and pattern,
build), the **pose** (view, joint angles, framing) and the **background** (a seed and a kind).
Because the renderer is a pure function of these factors, any combination can be re-rendered:
a foreground swap or a pose transfer gets a ground-truth image, and the true foreground mask is
known exactly.

Datasets are written in the real-data format of orig §2.1 / orig §2.8 (``docs/data.md``) (images,
``synth-annotation-*.csv``, ``synth-pairs-*.csv``) plus ``synth-factors-{split}.csv`` (one row per
image) and ``{split}_mask/NAME.png`` (true foreground, 0/255). Names are Market-style
``PPPP_cCs1_FFFFFF_00.png`` with the camera C = view (1 front, 2 back, 3 left, 4 right).

Drawing itself (skeleton, body parts, backgrounds) lives in :mod:`dpiglib.synth.drawing`; writing
whole datasets in :mod:`dpiglib.synth.dataset` (re-exported here).
"""

from __future__ import annotations

import colorsys
import struct
import typing
import zlib
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np

from dpiglib.config import SYNTH_STYLES
from dpiglib.synth.drawing import BG_KINDS, VIEW_YAW, draw_person, render_background

__all__ = [
    "Appearance", "PoseParams", "Background", "RenderResult", "SynthPersonRenderer",
    "sample_appearance", "sample_pose", "sample_background", "factors_from_row", "encode_png",
    "VIEWS", "ACTIONS", "PATTERNS", "STYLES", "SIZES",
]

VIEWS: tuple[str, ...] = ("front", "back", "left", "right")  # camera number = index + 1
ACTIONS: tuple[str, ...] = ("standing", "walking", "arms_raised")
PATTERNS: tuple[str, ...] = ("solid", "stripes", "checks", "dots")
HAIR_STYLES: tuple[str, ...] = ("short", "long")
SLEEVES: tuple[str, ...] = ("long", "short")
LOWER_KINDS: tuple[str, ...] = ("trousers", "shorts", "skirt")
STYLES: tuple[str, ...] = SYNTH_STYLES  # the choices live in config.py
#: Named sizes (H, W): the CPU preset, Market-like and DeepFashion-like.
SIZES: dict[str, tuple[int, int]] = {"tiny": (64, 32), "market": (128, 64),
                                     "deepfashion": (256, 256)}

RGB = tuple[int, int, int]


# --------------------------------------------------------------------------------------------
# Factors: frozen dataclasses that flatten to CSV columns (app_*, pose_*, bg_*)
# --------------------------------------------------------------------------------------------


def _choice_check(obj: Any, name: str, allowed: tuple[str, ...]) -> None:
    if getattr(obj, name) not in allowed:
        raise ValueError(f"{type(obj).__name__}.{name} must be one of {', '.join(allowed)}; "
                         f"got {getattr(obj, name)!r}")


class _Flat:
    """Mixin: ``to_dict`` / ``from_dict`` with flat column names; RGB tuples → ``_r/_g/_b``."""

    _prefix = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                for ch, x in zip("rgb", v):
                    out[f"{self._prefix}{f.name}_{ch}"] = int(x)
            else:
                out[self._prefix + f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        """Build from a flat mapping (a factors-CSV row); other columns are ignored."""
        hints = typing.get_type_hints(cls)
        kw: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            key = cls._prefix + f.name
            try:
                if typing.get_origin(hints[f.name]) is tuple:
                    kw[f.name] = tuple(int(d[f"{key}_{ch}"]) for ch in "rgb")
                else:
                    kw[f.name] = hints[f.name](d[key])  # int / float / str
            except KeyError as e:
                raise ValueError(f"{cls.__name__}.from_dict: missing column "
                                 f"{e.args[0]!r}") from None
        return cls(**kw)

    @classmethod
    def column_types(cls) -> dict[str, type]:
        """Flat column name → Python type (int, float or str), as written by ``to_dict``."""
        hints = typing.get_type_hints(cls)
        out: dict[str, type] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if typing.get_origin(hints[f.name]) is tuple:
                out.update({f"{cls._prefix}{f.name}_{ch}": int for ch in "rgb"})
            else:
                out[cls._prefix + f.name] = hints[f.name]
        return out


@dataclass(frozen=True)
class Appearance(_Flat):
    """Per-identity look (columns ``app_*``). Colours are RGB 0-255; pattern scale is the
    pattern period as a fraction of the person's height; height/width scale the body."""

    _prefix = "app_"
    skin: RGB
    hair: RGB
    hair_style: str  # short | long
    upper: RGB
    upper_pattern: str  # solid | stripes | checks | dots
    upper_pattern_color: RGB
    upper_pattern_scale: float
    upper_sleeves: str  # long | short
    lower: RGB
    lower_pattern: str
    lower_pattern_color: RGB
    lower_pattern_scale: float
    lower_kind: str  # trousers | shorts | skirt
    shoes: RGB
    height: float  # × the pose's scale: 0.92-1.04
    width: float  # build: 0.85-1.15

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple) and (len(v) != 3 or any(not 0 <= int(x) <= 255 for x in v)):
                raise ValueError(f"Appearance.{f.name} must be 3 ints in 0..255; got {v!r}")
        _choice_check(self, "hair_style", HAIR_STYLES)
        _choice_check(self, "upper_pattern", PATTERNS)
        _choice_check(self, "lower_pattern", PATTERNS)
        _choice_check(self, "upper_sleeves", SLEEVES)
        _choice_check(self, "lower_kind", LOWER_KINDS)
        if not (0.5 <= self.height <= 1.5 and 0.5 <= self.width <= 1.5):
            raise ValueError(f"Appearance height/width must lie in [0.5, 1.5]; got "
                             f"{self.height}, {self.width}")


@dataclass(frozen=True)
class PoseParams(_Flat):
    """View, joint angles (degrees) and framing (columns ``pose_*``).

    Arm/leg angles: ``abd`` swings the limb outward in the frontal plane, ``flex`` forward;
    the elbow adds to the arm's angles, the knee bends the shin backward. ``yaw`` (degrees) is
    what is drawn; ``view`` is its label (0 front, 90 left, 180 back, -90 right, ± jitter).
    ``walk_phase`` (radians) and ``action`` record how the angles were sampled.
    Framing: ``center_x`` (body centre column / W), ``top`` (head-top row / H), ``scale``
    (person height / H before the appearance's height factor); values outside [0, 1] crop.
    """

    _prefix = "pose_"
    view: str
    action: str
    yaw: float
    walk_phase: float
    r_arm_abd: float
    r_arm_flex: float
    r_elbow_abd: float
    r_elbow_flex: float
    l_arm_abd: float
    l_arm_flex: float
    l_elbow_abd: float
    l_elbow_flex: float
    r_leg_abd: float
    r_leg_flex: float
    r_knee: float
    l_leg_abd: float
    l_leg_flex: float
    l_knee: float
    center_x: float
    top: float
    scale: float

    def __post_init__(self):
        _choice_check(self, "view", VIEWS)
        _choice_check(self, "action", ACTIONS)
        if not 0.1 <= self.scale <= 4.0:
            raise ValueError(f"PoseParams.scale must lie in [0.1, 4]; got {self.scale}")


@dataclass(frozen=True)
class Background(_Flat):
    """A background is a seed and a kind (columns ``bg_seed``, ``bg_kind``): gradient, texture,
    clutter (Market-like) or plain (DeepFashion-like light studio backdrop)."""

    _prefix = "bg_"
    seed: int
    kind: str

    def __post_init__(self):
        _choice_check(self, "kind", BG_KINDS)
        if not 0 <= int(self.seed) < 2**63:
            raise ValueError(f"Background.seed must be a non-negative int; got {self.seed}")


def factors_from_row(row: Mapping[str, Any]) -> tuple[Appearance, PoseParams, Background]:
    """(appearance, pose, background) from one factors-CSV row (a dict or pandas Series)."""
    return Appearance.from_dict(row), PoseParams.from_dict(row), Background.from_dict(row)


# --------------------------------------------------------------------------------------------
# Sampling (numpy Generator in, factors out; floats rounded to 4 decimals for readable CSVs)
# --------------------------------------------------------------------------------------------

_SKIN = ((255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 140, 100), (160, 110, 75),
         (120, 80, 55), (90, 60, 40))
_HAIR = ((20, 15, 15), (50, 35, 25), (90, 60, 35), (150, 110, 60), (210, 180, 110),
         (165, 165, 165), (140, 60, 30))


def _r4(x: float) -> float:
    return round(float(x), 4)


def _jitter(rng: np.random.Generator, rgb, amount: int) -> RGB:
    return tuple(int(v) for v in np.clip(np.asarray(rgb) + rng.integers(-amount, amount + 1, 3),
                                         0, 255))


def _hsv(h: float, s: float, v: float) -> RGB:
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _cloth(rng: np.random.Generator) -> tuple[RGB, RGB, float]:
    """A clothing colour and a contrasting pattern colour (value shifted by ≥ 0.35)."""
    h, s, v = rng.random(), rng.uniform(0.05, 0.9), rng.uniform(0.15, 0.95)
    v2 = v - rng.uniform(0.35, 0.6) if v > 0.55 else v + rng.uniform(0.35, 0.6)
    h2 = h if rng.random() < 0.5 else rng.random()
    return _hsv(h, s, v), _hsv(h2, rng.uniform(0.0, 0.9), float(np.clip(v2, 0.05, 1.0))), \
        _r4(rng.uniform(0.03, 0.07))


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Draw one identity's appearance."""
    skin = _jitter(rng, _SKIN[rng.integers(len(_SKIN))], 8)
    hair = _jitter(rng, _HAIR[rng.integers(len(_HAIR))], 8)
    hair_style = HAIR_STYLES[int(rng.random() < 0.4)]
    upper, upper_pc, upper_ps = _cloth(rng)
    upper_pattern = PATTERNS[rng.choice(4, p=[0.4, 0.2, 0.2, 0.2])]
    sleeves = SLEEVES[int(rng.random() < 0.5)]
    lower, lower_pc, lower_ps = _cloth(rng)
    lower_pattern = PATTERNS[rng.choice(4, p=[0.55, 0.15, 0.15, 0.15])]
    lower_kind = LOWER_KINDS[rng.choice(3, p=[0.6, 0.2, 0.2])]
    shoes = (_hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.05, 0.45))
             if rng.random() < 0.8 else _jitter(rng, (235, 235, 235), 10))
    return Appearance(skin=skin, hair=hair, hair_style=hair_style, upper=upper,
                      upper_pattern=upper_pattern, upper_pattern_color=upper_pc,
                      upper_pattern_scale=upper_ps, upper_sleeves=sleeves, lower=lower,
                      lower_pattern=lower_pattern, lower_pattern_color=lower_pc,
                      lower_pattern_scale=lower_ps, lower_kind=lower_kind, shoes=shoes,
                      height=_r4(rng.uniform(0.92, 1.04)), width=_r4(rng.uniform(0.85, 1.15)))


def sample_pose(rng: np.random.Generator, style: str = "market") -> PoseParams:
    """Draw a pose: a view, an action (standing / walking / arms raised) and a framing.

    About 10 % of Market-style (and "simple"-style) poses are cropped (feet below the frame, head
    above it, or the body shifted sideways) so that some keypoints are missing, as in real crops;
    DeepFashion-style poses are upper-body close-ups a quarter of the time.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")
    view = VIEWS[rng.choice(4, p=[0.35, 0.25, 0.2, 0.2])]
    action = ACTIONS[rng.choice(3, p=[0.4, 0.4, 0.2])]
    u = rng.uniform
    a: dict[str, float] = {}
    for s in ("r", "l"):  # standing baseline
        a.update({f"{s}_arm_abd": u(4, 20), f"{s}_arm_flex": u(-10, 15),
                  f"{s}_elbow_abd": u(-15, 10), f"{s}_elbow_flex": u(0, 30),
                  f"{s}_leg_abd": u(2, 8), f"{s}_leg_flex": u(-5, 5), f"{s}_knee": u(0, 8)})
    phase = 0.0
    if action == "walking":
        # Legs swing in antiphase, each arm opposite its leg; the swinging-back leg bends.
        phase = u(0, 2 * np.pi)
        leg_amp, arm_amp = u(18, 32), u(12, 30)
        for s, sign in (("r", 1.0), ("l", -1.0)):
            sw = sign * np.sin(phase)
            a[f"{s}_leg_flex"] = leg_amp * sw
            a[f"{s}_knee"] = 5 + 30 * max(0.0, -sw) * abs(np.cos(phase)) + u(0, 5)
            a[f"{s}_leg_abd"] = u(1, 4)
            a[f"{s}_arm_flex"] = -arm_amp * sw
            a[f"{s}_arm_abd"] = u(3, 10)
            a[f"{s}_elbow_flex"] = u(10, 35)
    elif action == "arms_raised":
        both = rng.random() < 0.6
        raised = ("r", "l") if both else (("r",) if rng.random() < 0.5 else ("l",))
        for s in raised:
            a.update({f"{s}_arm_abd": u(120, 172), f"{s}_arm_flex": u(-10, 25),
                      f"{s}_elbow_abd": u(-25, 15), f"{s}_elbow_flex": u(0, 20)})
    center_x, top, scale = 0.5 + u(-0.08, 0.08), u(0.02, 0.08), u(0.78, 0.9)
    crop = rng.random()
    if style == "deepfashion":
        scale = u(0.8, 0.9)
        if crop < 0.25:
            scale, top = u(1.3, 1.8), u(0.02, 0.06)  # upper-body close-up
    elif crop < 0.06:
        scale = u(1.0, 1.25)  # feet below the frame
    elif crop < 0.09:
        top = u(-0.1, -0.03)  # head above the frame
    elif crop < 0.11:
        center_x = 0.5 + (1 if rng.random() < 0.5 else -1) * u(0.22, 0.35)  # cut at the side
    return PoseParams(view=view, action=action,
                      yaw=_r4(VIEW_YAW[view] + u(-15, 15)), walk_phase=_r4(phase),
                      **{k: _r4(v) for k, v in a.items()},
                      center_x=_r4(center_x), top=_r4(top), scale=_r4(scale))


def sample_background(rng: np.random.Generator, style: str = "market") -> Background:
    """Draw a background: Market style = gradient / texture / clutter; DeepFashion = plain;
    simple (synth-tiny) = plain or gradient, with Market-style poses."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")
    seed = int(rng.integers(0, 2**31 - 1))
    if style == "deepfashion":
        return Background(seed=seed, kind="plain")
    if style == "simple":  # synth-tiny: plain or gradient, so a tiny model can see the person
        return Background(seed=seed, kind=("plain", "gradient")[int(rng.random() < 0.5)])
    return Background(seed=seed, kind=("gradient", "texture", "clutter")[
        rng.choice(3, p=[0.3, 0.35, 0.35])])


# --------------------------------------------------------------------------------------------
# Renderer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RenderResult:
    """One rendered image.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        rcv: (18, 3) float32 (row, col, visible), integer pixel coordinates; missing = (0, 0, 0).
        fg_mask: (H, W) uint8 in {0, 1}: pixels covered by the person.
    """

    image: np.ndarray
    rcv: np.ndarray
    fg_mask: np.ndarray


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(image: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of an (H, W, 3) RGB or (H, W) grey uint8 array.

    A minimal writer (filter type 0 on every row, one zlib stream): about twice as fast as
    PIL's adaptive row filters at 128×64, which keeps rendering + encoding above 500 images/s on
    one core; PIL, browsers and every PNG reader decode it. Deterministic for a given zlib.
    """
    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (
            image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"encode_png expects (H, W) or (H, W, 3) uint8; got {image.shape} "
                         f"{image.dtype}")
    h, w = image.shape[:2]
    rows = np.zeros((h, 1 + image[0].size), np.uint8)  # leading 0 = filter "None"
    rows[:, 1:] = image.reshape(h, -1)
    colour_type = 2 if image.ndim == 3 else 0
    return b"".join((b"\x89PNG\r\n\x1a\n",
                     _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)),
                     _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), compress_level)),
                     _png_chunk(b"IEND", b"")))


class SynthPersonRenderer:
    """Render (appearance, pose, background) → image, keypoints and true foreground mask.

    Args:
        size: (H, W) in pixels, e.g. (64, 32), (128, 64), (256, 256). Drawn at this resolution.
        style: ``"market"`` or ``"deepfashion"``; used by :meth:`sample` (the factors themselves
            decide what is drawn, so any background kind renders at any style).
    """

    def __init__(self, size: tuple[int, int] = (128, 64), style: str = "market"):
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(isinstance(v, (int, np.integer)) for v in size)):
            raise ValueError(f"size must be (H, W) ints; got {size!r}")
        h, w = int(size[0]), int(size[1])
        if h < 16 or w < 8 or h > 2048 or w > 2048:
            raise ValueError(f"size (H, W) must be within 16×8 and 2048×2048; got {h}×{w}")
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")
        self.size = (h, w)
        self.style = style

    def render(self, appearance: Appearance, pose: PoseParams,
               background: Background) -> RenderResult:
        """Draw the person described by ``appearance`` and ``pose`` over ``background``.

        A pure function of its arguments: the same factors always give identical pixels, and
        re-rendering with another identity's appearance (same pose and background) is the
        ground truth of that foreground swap.
        """
        for arg, cls in ((appearance, Appearance), (pose, PoseParams), (background, Background)):
            if not isinstance(arg, cls):
                raise TypeError(f"expected {cls.__name__}, got {type(arg).__name__}")
        bg = render_background(int(background.seed), background.kind, self.size)
        image, rcv, mask = draw_person(appearance, pose, bg, self.size)
        return RenderResult(image=image, rcv=rcv, fg_mask=mask)

    def sample(self, rng: np.random.Generator) -> tuple[Appearance, PoseParams, Background]:
        """Draw a random (appearance, pose, background) in this renderer's style."""
        return (sample_appearance(rng), sample_pose(rng, self.style),
                sample_background(rng, self.style))

    def __repr__(self) -> str:
        return f"SynthPersonRenderer(size={self.size}, style={self.style!r})"
