"""SynthPerson drawing: a kinematic skeleton, body parts and backgrounds as pixels.

The geometry behind :class:`dpiglib.synth.renderer.SynthPersonRenderer`. A person is a 3-D stick skeleton
in *body units* (the person's height P = 1; x = the person's left, y = down from the head top,
z = forward), turned by the pose's yaw and projected orthographically into the image. The 18
keypoints are projections of the same joints the body parts are drawn from, in the OpenPose COCO
order of orig §2.2 (14 r_eye, 15 l_eye, 16 r_ear, 17 l_ear; "r" = the person's right), so a pose
estimator would agree with them. Face points that the view turns away (eyes and nose from behind,
the far eye and ear in profile) and points outside the frame are missing, (0, 0, 0).

Drawing is a painter's algorithm over *part ids*: every shape is drawn with PIL ``ImageDraw`` (C
speed) into one uint8 id image in depth order, and colours, clothing patterns and 1-px outlines
are then looked up per id with NumPy. The foreground mask is ``ids > 0``, so swapping the
background never changes a foreground pixel.
"""

from __future__ import annotations

import colorsys
import math
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["VIEW_YAW", "BG_KINDS", "render_background", "draw_person", "project_keypoints"]

# Colour classes of a part id.
SKIN, HAIR, UPPER, LOWER, SHOES, EYE = 1, 2, 3, 4, 5, 6
_EYE_RGB = (35, 25, 25)
_FAR_SHADE = 0.8  # far-side limbs in profile are darker, so the two legs/arms read apart
_OUTLINE_SHADE = 0.72  # front part's boundary pixel against what lies behind it

#: Yaw (degrees) of each view: 0 faces the camera; "left" shows the person's left side (they face
#: the image's left); "back" shows the back (the person's right is on the image's right).
VIEW_YAW = {"front": 0.0, "left": 90.0, "back": 180.0, "right": -90.0}
BG_KINDS = ("gradient", "texture", "clutter", "plain")

# Body proportions in units of the person's height (head top y = 0, sole y ~ 1). Horizontal
# sizes marked (w) are multiplied by the appearance's build factor.
_HEAD_Y, _HEAD_RX, _HEAD_RY, _HEAD_RZ = 0.075, 0.058, 0.075, 0.066
_NECK_TOP, _NECK_Y, _NECK_W = 0.125, 0.185, 0.05
_SHOULDER_Y, _SHOULDER_X = 0.195, 0.105  # (w)
_TORSO_TOP, _WAIST_Y, _WAIST_X, _CHEST_Z = 0.18, 0.47, 0.08, 0.06  # _WAIST_X (w)
_SHIRT_BOTTOM = 0.495
_HIP_Y, _HIP_X = 0.535, 0.062  # (w)
_UPPER_ARM, _FOREARM, _HAND = 0.16, 0.145, 0.05
_THIGH, _SHIN = 0.225, 0.225
_ARM_W, _FOREARM_W, _HAND_W = 0.05, 0.042, 0.04  # (w)
_THIGH_W, _SHIN_W, _FOOT_W = 0.072, 0.058, 0.042  # (w)
_FOOT = (0.0, 0.018, 0.055)  # ankle → toe, body frame


# --------------------------------------------------------------------------------------------
# Skeleton
# --------------------------------------------------------------------------------------------


def _limb_dir(side: float, abd: float, flex: float) -> tuple[float, float, float]:
    """Unit direction of a limb segment: abducted `abd` degrees outward in the frontal plane,
    then swung `flex` degrees forward about the lateral axis. (0, 0) hangs straight down."""
    a, f = math.radians(abd), math.radians(flex)
    ya = math.cos(a)
    return (side * math.sin(a), ya * math.cos(f), ya * math.sin(f))


def _add(p, d, s):
    return (p[0] + d[0] * s, p[1] + d[1] * s, p[2] + d[2] * s)


def skeleton3d(app: Any, pose: Any) -> dict[str, tuple[float, float, float]]:
    """Joint positions in body units (x left, y down, z forward) for an appearance and pose."""
    w = app.width
    j: dict[str, tuple[float, float, float]] = {"head": (0.0, _HEAD_Y, 0.0),
                                                "neck": (0.0, _NECK_Y, 0.0)}
    for s, side in (("r", -1.0), ("l", 1.0)):
        sh = (side * _SHOULDER_X * w, _SHOULDER_Y, 0.0)
        abd, flex = getattr(pose, f"{s}_arm_abd"), getattr(pose, f"{s}_arm_flex")
        d1 = _limb_dir(side, abd, flex)
        d2 = _limb_dir(side, abd + getattr(pose, f"{s}_elbow_abd"),
                       flex + getattr(pose, f"{s}_elbow_flex"))
        j[f"{s}_shoulder"] = sh
        j[f"{s}_elbow"] = _add(sh, d1, _UPPER_ARM)
        j[f"{s}_wrist"] = _add(j[f"{s}_elbow"], d2, _FOREARM)
        j[f"{s}_hand"] = _add(j[f"{s}_wrist"], d2, _HAND)
        hip = (side * _HIP_X * w, _HIP_Y, 0.0)
        abd, flex = getattr(pose, f"{s}_leg_abd"), getattr(pose, f"{s}_leg_flex")
        j[f"{s}_hip"] = hip
        j[f"{s}_knee"] = _add(hip, _limb_dir(side, abd, flex), _THIGH)
        # The knee bends backward: the shin swings `knee` degrees behind the thigh.
        j[f"{s}_ankle"] = _add(j[f"{s}_knee"], _limb_dir(side, abd * 0.5, flex - getattr(
            pose, f"{s}_knee")), _SHIN)
        j[f"{s}_toe"] = _add(j[f"{s}_ankle"], _FOOT, 1.0)
    # Face points on the head ellipsoid: nose in front, eyes forward-up, ears at the sides.
    hx, hy, hz = _HEAD_RX, _HEAD_RY, _HEAD_RZ
    j["nose"] = (0.0, _HEAD_Y + 0.15 * hy, 0.92 * hz)
    for s, side in (("r", -1.0), ("l", 1.0)):
        j[f"{s}_eye"] = (side * 0.4 * hx, _HEAD_Y - 0.1 * hy, 0.8 * hz)
        j[f"{s}_ear"] = (side * 0.92 * hx, _HEAD_Y + 0.05 * hy, -0.1 * hz)
    return j


class _Projector:
    """Body units → image (col, row) and depth toward the camera, for one pose and frame."""

    def __init__(self, pose: Any, app: Any, size: tuple[int, int]):
        h, w = size
        self.p = pose.scale * app.height * h  # person height in pixels
        self.cx = pose.center_x * w
        self.top = pose.top * h
        yaw = math.radians(pose.yaw)
        self.c, self.s = math.cos(yaw), math.sin(yaw)

    def xy(self, q) -> tuple[float, float]:
        return (self.cx + (q[0] * self.c - q[2] * self.s) * self.p, self.top + q[1] * self.p)

    def depth(self, q) -> float:
        return q[0] * self.s + q[2] * self.c

    def half_width(self, rx: float, rz: float) -> float:
        """Projected half width (pixels) of an ellipse cross-section with half axes rx, rz."""
        return math.hypot(rx * self.c, rz * self.s) * self.p


_KEYPOINT_JOINTS = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow",
                    "l_wrist", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle",
                    "r_eye", "l_eye", "r_ear", "l_ear")
# Face points hidden when their outward direction points this far from the camera (depth of the
# unit direction): eyes/nose vanish from behind, the far eye/ear in profile, ears stay in front.
_FACE_MIN_DEPTH = {"nose": -0.25, "r_eye": -0.1, "l_eye": -0.1, "r_ear": -0.5, "l_ear": -0.5}


def project_keypoints(joints: dict, proj: _Projector, size: tuple[int, int]) -> np.ndarray:
    """(18, 3) float32 rcv with integer-valued row/col; hidden or out-of-frame → (0, 0, 0)."""
    h, w = size
    rcv = np.zeros((18, 3), np.float32)
    head = joints["head"]
    for k, name in enumerate(_KEYPOINT_JOINTS):
        q = joints[name]
        if name in _FACE_MIN_DEPTH:
            d = (q[0] - head[0], q[1] - head[1], q[2] - head[2])
            n = math.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
            if proj.depth(d) / n < _FACE_MIN_DEPTH[name]:
                continue
        col, row = proj.xy(q)
        r, c = int(math.floor(row + 0.5)), int(math.floor(col + 0.5))
        if 0 <= r < h and 0 <= c < w:
            rcv[k] = (r, c, 1.0)
    return rcv


# --------------------------------------------------------------------------------------------
# Body parts: groups of shapes (a whole arm, the head), drawn far → near
# --------------------------------------------------------------------------------------------


class _Parts:
    """Shapes grouped into body parts. A group has one depth (toward the camera) and its shapes
    are drawn in the order added; groups are drawn by increasing depth (painter's algorithm)."""

    def __init__(self, proj: _Projector):
        self.proj = proj
        self.items: list[tuple] = []  # (group depth, group, seq, class, shade, kind, geometry)
        self.group, self.depth = 0, 0.0

    def begin(self, depth: float) -> None:
        self.group += 1
        self.depth = depth

    def add(self, cls, shade, kind, geom):
        self.items.append((self.depth, self.group, len(self.items), cls, shade, kind, geom))

    def capsule(self, cls, shade, q0, q1, w0, w1=None):
        p = self.proj
        self.add(cls, shade, "capsule", (p.xy(q0), p.xy(q1), w0 * p.p, (w1 or w0) * p.p))


def _limb_depth(proj, *qs) -> float:
    return sum(proj.depth(q) for q in qs) / len(qs)


def _along(q0, q1, t):
    return _add(q0, (q1[0] - q0[0], q1[1] - q0[1], q1[2] - q0[2]), t)


def _build_parts(app: Any, joints: dict, proj: _Projector, rcv: np.ndarray) -> _Parts:
    parts = _Parts(proj)
    bw, ps, cx = app.width, proj.p, proj.cx
    # Torso (upper clothes) over pelvis (lower clothes) over neck. Depth 0 = the body's mid plane.
    hw_top = proj.half_width(_SHOULDER_X * bw, _CHEST_Z)
    hw_waist = proj.half_width(_WAIST_X * bw, _CHEST_Z * 0.9)
    hw_hip = proj.half_width((_HIP_X + _THIGH_W / 2) * bw, _CHEST_Z)
    yt, ywst, ysh, yhp = (proj.top + y * ps for y in (_TORSO_TOP, _WAIST_Y, _SHIRT_BOTTOM,
                                                      _HIP_Y + 0.02))
    parts.begin(-0.004)
    parts.capsule(SKIN, 1.0, (0.0, _NECK_TOP, 0.0), (0.0, _NECK_Y, 0.0), _NECK_W * bw)
    parts.begin(-0.002)
    parts.add(LOWER, 1.0, "poly", [(cx - hw_waist, ywst), (cx + hw_waist, ywst),
                                   (cx + hw_hip, yhp), (cx - hw_hip, yhp)])
    parts.begin(0.0)
    parts.add(UPPER, 1.0, "poly", [(cx - hw_top, yt), (cx + hw_top, yt),
                                   (cx + hw_waist * 1.04, ysh), (cx - hw_waist * 1.04, ysh)])
    # Legs with shoes; the lower-clothes kind decides which segments are cloth or skin.
    leg_depths = []
    for s in ("r", "l"):
        hip, knee, ankle, toe = (joints[f"{s}_{n}"] for n in ("hip", "knee", "ankle", "toe"))
        d = _limb_depth(proj, hip, knee, ankle)
        leg_depths.append(d)
        shade = _FAR_SHADE if d < -0.03 else 1.0
        cloth = LOWER if app.lower_kind == "trousers" else SKIN
        parts.begin(d)
        parts.capsule(cloth, shade, hip, knee, _THIGH_W * bw, _SHIN_W * bw * 1.1)
        parts.capsule(cloth, shade, knee, ankle, _SHIN_W * bw * 1.1, _SHIN_W * bw * 0.85)
        if app.lower_kind == "shorts":  # cloth over the upper 55 % of the thigh
            parts.capsule(LOWER, shade, hip, _along(hip, knee, 0.55), _THIGH_W * bw * 1.08)
        parts.capsule(SHOES, shade, ankle, toe, _FOOT_W * bw)
    if app.lower_kind == "skirt":  # a trapezoid from the waist to the knees, over both legs
        yk = proj.top + (_HIP_Y + _THIGH * 0.8) * ps
        hw_hem = hw_hip * 1.35
        parts.begin(max(leg_depths) + 0.002)
        parts.add(LOWER, 1.0, "poly", [(cx - hw_waist, ywst), (cx + hw_waist, ywst),
                                       (cx + hw_hem, yk), (cx - hw_hem, yk)])
    # Arms: sleeve over the upper arm (short) or the whole arm (long), skin hands.
    for s in ("r", "l"):
        sh, el, wr, hand = (joints[f"{s}_{n}"] for n in ("shoulder", "elbow", "wrist", "hand"))
        d = _limb_depth(proj, sh, el, wr) + 0.02  # hanging arms lie over the torso's edge
        shade = _FAR_SHADE if d < -0.03 else 1.0
        cloth = UPPER if app.upper_sleeves == "long" else SKIN
        parts.begin(d)
        parts.capsule(cloth, shade, sh, el, _ARM_W * bw, _FOREARM_W * bw * 1.1)
        parts.capsule(cloth, shade, el, wr, _FOREARM_W * bw * 1.1, _FOREARM_W * bw * 0.9)
        if app.upper_sleeves == "short":
            parts.capsule(UPPER, shade, sh, _along(sh, el, 0.5), _ARM_W * bw * 1.15)
        parts.capsule(SKIN, shade, wr, hand, _HAND_W * bw, _HAND_W * bw * 0.9)
    # Head: base skin (the nape from behind), hair, then the face when it turns to the camera.
    rx, ry = proj.half_width(_HEAD_RX, _HEAD_RZ), _HEAD_RY * ps
    if app.hair_style == "long":  # hangs behind the head to the shoulders
        back = (0.0, _HEAD_Y + 0.09, -0.045)
        parts.begin(proj.depth(back) + 0.001)
        parts.add(HAIR, 1.0, "ellipse", (*proj.xy(back),
                                         proj.half_width(_HEAD_RX * 1.15, _HEAD_RZ * 0.9),
                                         0.115 * ps))
    parts.begin(0.05)  # over the torso and hanging arms
    parts.add(SKIN, 1.0, "ellipse", (*proj.xy(joints["head"]), rx, ry))
    parts.add(HAIR, 1.0, "ellipse", (*proj.xy((0.0, _HEAD_Y - 0.012, -0.014)), rx * 1.07,
                                     ry * 0.92))
    if proj.c > -0.3:
        parts.add(SKIN, 1.0, "ellipse", (*proj.xy((0.0, _HEAD_Y + 0.011, 0.016)), rx * 0.84,
                                         ry * 0.85))
        eye_r = max(0.5, 0.009 * ps)
        for k in (14, 15):
            if rcv[k, 2] > 0:
                parts.add(EYE, 1.0, "dot", (float(rcv[k, 1]), float(rcv[k, 0]), eye_r))
    return parts


def _draw_capsule(draw: ImageDraw.ImageDraw, geom, fill: int) -> None:
    (x0, y0), (x1, y1), w0, w1 = geom
    r0, r1 = max(w0, 1.0) / 2, max(w1, 1.0) / 2
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy)
    if n > 1e-6:  # tapered quad between the two end disks
        ox, oy = -dy / n, dx / n
        draw.polygon([(x0 + ox * r0, y0 + oy * r0), (x1 + ox * r1, y1 + oy * r1),
                      (x1 - ox * r1, y1 - oy * r1), (x0 - ox * r0, y0 - oy * r0)], fill=fill)
    draw.ellipse([x0 - r0, y0 - r0, x0 + r0, y0 + r0], fill=fill)
    draw.ellipse([x1 - r1, y1 - r1, x1 + r1, y1 + r1], fill=fill)


# --------------------------------------------------------------------------------------------
# Colours, patterns, composition
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rr, cc = np.indices((h, w), dtype=np.int32)
    return rr, cc


def _pattern(kind: str, scale: float, anchor: tuple[int, int], ps: float,
             size: tuple[int, int]) -> np.ndarray | None:
    """Boolean (H, W) pattern anchored on the body (so it moves with the person), or None."""
    if kind == "solid":
        return None
    rr, cc = _grid(*size)
    period = max(2, int(round(scale * ps)))
    half = max(1, period // 2)
    r = rr - anchor[0]
    if kind == "stripes":
        return (r // half) % 2 == 1
    c = cc - anchor[1]
    if kind == "checks":
        return ((r // half) + (c // half)) % 2 == 1
    dot = max(1, int(round(period * 0.45)))  # "dots": small squares on a period grid
    return ((r % period) < dot) & ((c % period) < dot)


def _shade(rgb, f) -> tuple[int, int, int]:
    return tuple(int(v * f) for v in rgb)


def draw_person(app: Any, pose: Any, background: np.ndarray,
                size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one person over ``background`` (H, W, 3) uint8.

    Returns:
        image (H, W, 3) uint8, rcv (18, 3) float32, fg_mask (H, W) uint8 in {0, 1}.
    """
    h, w = size
    proj = _Projector(pose, app, size)
    joints = skeleton3d(app, pose)
    rcv = project_keypoints(joints, proj, size)
    parts = _build_parts(app, joints, proj, rcv)
    items = sorted(parts.items)
    if len(items) > 254:
        raise RuntimeError("too many body parts for a uint8 id image")
    ids = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(ids)
    # Per-id lookup tables: base colour, pattern colour, patterned class, group rank.
    base = np.zeros((256, 3), np.uint8)
    patc = np.zeros((256, 3), np.uint8)
    pcls = np.zeros(256, np.uint8)
    rank = np.zeros(256, np.uint8)  # 0 = background; groups are drawn in increasing rank
    colour = {SKIN: (app.skin, app.skin), HAIR: (app.hair, app.hair),
              UPPER: (app.upper, app.upper_pattern_color),
              LOWER: (app.lower, app.lower_pattern_color), SHOES: (app.shoes, app.shoes),
              EYE: (_EYE_RGB, _EYE_RGB)}
    last_group, g = None, 0
    for i, (_, group, _, cls, shade, kind, geom) in enumerate(items, start=1):
        if kind == "capsule":
            _draw_capsule(draw, geom, i)
        elif kind == "poly":
            draw.polygon(geom, fill=i)
        else:  # ellipse (x, y, rx, ry) or dot (x, y, r)
            x, y, rx = geom[:3]
            ry = geom[3] if kind == "ellipse" else rx
            if kind == "dot" and rx <= 0.5:
                draw.point((x, y), fill=i)
            else:
                draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=i)
        c0, c1 = colour[cls]
        base[i], patc[i] = _shade(c0, shade), _shade(c1, shade)
        pcls[i] = cls if cls in (UPPER, LOWER) else 0
        if group != last_group:
            last_group, g = group, g + 1
        rank[i] = g
    lab = np.asarray(ids)
    fg = lab > 0
    rgb = base[lab]  # (H, W, 3)
    labcls = pcls[lab]
    for cls, kind, scale, anchor in (
            (UPPER, app.upper_pattern, app.upper_pattern_scale, proj.xy(joints["neck"])),
            (LOWER, app.lower_pattern, app.lower_pattern_scale, proj.xy((0, _WAIST_Y, 0)))):
        pat = _pattern(kind, scale, (int(anchor[1]), int(anchor[0])), proj.p, size)
        if pat is not None:
            sel = pat & (labcls == cls)
            rgb[sel] = patc[lab[sel]]
    # 1-px outline: a pixel whose 4-neighbour belongs to a part drawn earlier (or background) is
    # darkened; only the front part gets the line, so it stays 1 px wide.
    g = rank[lab]
    edge = np.zeros_like(fg)
    edge[1:] |= g[1:] > g[:-1]
    edge[:-1] |= g[:-1] > g[1:]
    edge[:, 1:] |= g[:, 1:] > g[:, :-1]
    edge[:, :-1] |= g[:, :-1] > g[:, 1:]
    rgb[edge] = (rgb[edge] * _OUTLINE_SHADE).astype(np.uint8)
    image = np.where(fg[..., None], rgb, background)
    return image, rcv, fg.astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Backgrounds (deterministic in the seed)
# --------------------------------------------------------------------------------------------


def _muted(rng: np.random.Generator, lo: float = 0.2, hi: float = 0.85) -> np.ndarray:
    # Street scenes are mostly greys, browns and faded colours: low saturation.
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.45), rng.uniform(lo, hi))
    return np.array(rgb, np.float32) * 255


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    c0, c1 = _muted(rng), _muted(rng)
    a = rng.uniform(0.0, 2 * math.pi)
    t = (np.arange(h, dtype=np.float32)[:, None] * (math.cos(a) / h)
         + np.arange(w, dtype=np.float32)[None, :] * (math.sin(a) / w))
    t -= t.min()
    t /= max(float(t.max()), 1e-6)
    return c0 + (c1 - c0) * t[..., None]


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = _muted(rng)
    gh, gw = int(rng.integers(3, 9)), int(rng.integers(2, 6))
    blotch = np.clip(base + rng.integers(-45, 46, (gh, gw, 3)), 0, 255).astype(np.uint8)
    img = np.asarray(Image.fromarray(blotch).resize((w, h), Image.BILINEAR), np.float32)
    if rng.random() < 0.6:  # a floor: the lower rows blend toward a ground colour
        row = int(rng.uniform(0.55, 0.85) * h)
        img[row:] = img[row:] * 0.55 + _muted(rng) * 0.45
    if rng.random() < 0.5:  # tiles / bricks: darker grid lines
        p = max(3, int(rng.uniform(0.08, 0.2) * h))
        img[::p] *= 0.75
        img[:, ::p] *= 0.8
    return img + rng.integers(-8, 9, (h, w, 1)).astype(np.float32)


def _clutter(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    im = Image.fromarray(np.clip(_gradient(rng, h, w), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(4, 13))):
        shape = int(rng.integers(0, 4))
        fill = tuple(int(v) for v in _muted(rng, 0.1, 0.95))
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 1.0) * h
        if shape == 2:  # a pole
            bw, bh = rng.uniform(0.04, 0.12) * w, rng.uniform(0.5, 1.2) * h
        elif shape == 3:  # a band (kerb, rail, bench)
            bw, bh = rng.uniform(0.6, 1.3) * w, rng.uniform(0.03, 0.1) * h
        else:
            bw, bh = rng.uniform(0.1, 0.5) * w, rng.uniform(0.05, 0.35) * h
        box = [x0, y0, x0 + bw, y0 + bh]
        (draw.ellipse if shape == 1 else draw.rectangle)(box, fill=fill)
    return np.asarray(im, np.float32)


def _plain(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    # DeepFashion-like studio background: near white, a faint tint and vertical falloff.
    g = float(rng.integers(232, 251))
    tint = rng.integers(-5, 6, 3).astype(np.float32)
    fall = np.linspace(0.0, float(rng.uniform(0, 8)), h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(g + tint - fall, (h, w, 3))


_BG_MAKERS = {"gradient": _gradient, "texture": _texture, "clutter": _clutter, "plain": _plain}


@lru_cache(maxsize=64)
def render_background(seed: int, kind: str, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 background, a pure function of (seed, kind, size); read-only (cached)."""
    if kind not in _BG_MAKERS:
        raise ValueError(f"unknown background kind {kind!r}; expected one of {', '.join(BG_KINDS)}")
    h, w = size
    img = _BG_MAKERS[kind](np.random.default_rng(seed), h, w)
    out = np.clip(img, 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out
