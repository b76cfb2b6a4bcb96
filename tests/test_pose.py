"""dpiglib.data.pose against orig §2.3-2.5: hand-computed cases, transcriptions of the original loops,
NumPy vs torch equality on random batches, and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.morphology import dilation, erosion

from dpiglib.data import pose as P
from dpiglib.data.pose import (FLIP_PERMUTATION, KEYPOINT_NAMES, MASK_LIMBS, PART_GROUPS,
                               box_margins, csv_to_rcv, denormalize_rcv, flip_rcv, normalize_rcv,
                               part_boxes, part_boxes_batch, pose_heatmap, pose_mask,
                               rcv_from_array, rcv_to_csv, scaled_radius, validate_rcv)

# A real row of the released Market test annotations (orig §2.8).
ROW_Y = [14, 24, 25, 44, 61, 24, 42, 56, 61, 86, 112, 60, 86, 101, 12, 11, 10, -1]
ROW_X = [38, 33, 20, 14, 20, 46, 52, 63, 29, 33, 34, 43, 36, 14, 35, 39, 27, -1]

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make_rcv(**points) -> np.ndarray:
    """rcv with the named keypoints visible at (row, col), all others missing."""
    rcv = np.zeros((18, 3), np.float32)
    for name, (r, c) in points.items():
        rcv[KEYPOINT_NAMES.index(name)] = (r, c, 1)
    return rcv


def random_rcv(rng, n, h, w, margin=3, integer=False, p_vis=0.8) -> np.ndarray:
    """Random poses; coordinates reach `margin` px beyond the border and include the border."""
    r = rng.uniform(-margin, h - 1 + margin, (n, 18))
    c = rng.uniform(-margin, w - 1 + margin, (n, 18))
    # a quarter of the keypoints sit exactly on an edge row / column
    edge = rng.random((n, 18)) < 0.25
    r = np.where(edge & (rng.random((n, 18)) < 0.5), rng.choice([0, h - 1], (n, 18)), r)
    c = np.where(edge & (rng.random((n, 18)) < 0.5), rng.choice([0, w - 1], (n, 18)), c)
    if integer:
        r, c = np.round(r), np.round(c)
    v = rng.random((n, 18)) < p_vis
    return np.stack([r * v, c * v, v], -1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Reference transcriptions of the original code (orig §2.3, orig §2.4)
# ---------------------------------------------------------------------------------------------

# tf_poseInflate's hard-coded (x_offset, y_offsets) list (utils.py:289-318), radius 4.
_TF_OFFSETS = ([(x, 0) for x in (-4, 4)] + [(x, y) for x in (-3, 3) for y in range(-2, 3)]
               + [(x, y) for x in (-2, 2, -1, 1) for y in range(-3, 4)]
               + [(0, y) for y in range(-4, 5)])


def ref_heatmap_tf(rcv, h, w):
    """coord2channel_simple_rcv + tf_poseInflate (radius 4), literally: scatter, 49 shifts, clip."""
    out = np.zeros((18, h, w))
    for k in range(18):
        r, c, v = int(rcv[k, 0]), int(rcv[k, 1]), rcv[k, 2]
        one = np.zeros((h, w))
        if 0 <= r < h and 0 <= c < w:  # the scatter drops out-of-range indices
            one[r, c] = 2 * v
        one = ((one - 1) + 1) / 2  # to [-1, 1], then back to [0, 1] as tf_poseInflate does
        acc = one.copy()
        for dx, dy in _TF_OFFSETS:
            shifted = np.zeros_like(one)  # zero padding outside the image
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
            shifted[yd, xd] = one[ys, xs]
            acc += shifted
        out[k] = np.minimum(acc, 1) * 2 - 1
    return out.astype(np.float32)


def ref_pose_mask(rcv, h, w, radius):
    """_getPoseMask/_getSparseKeypoint (convert_DF.py) with Python-2 integer `/`, skimage closing."""
    dense = np.zeros((h, w))

    def stamp(r, c):
        r, c = int(r), int(c)
        for i in range(-radius, radius + 1):
            for j in range(-radius, radius + 1):
                if 0 <= r + i < h and 0 <= c + j < w and math.sqrt(i * i + j * j) <= radius:
                    dense[r + i, c + j] = 1

    for a, b in MASK_LIMBS:
        if rcv[a, 2] and rcv[b, 2]:
            r0, c0, r1, c1 = int(rcv[a, 0]), int(rcv[a, 1]), int(rcv[b, 0]), int(rcv[b, 1])
            stamp(r0, c0)
            stamp(r1, c1)
            sample_n = int(np.sqrt((r0 - r1) ** 2 + (c0 - c1) ** 2) / radius)
            if sample_n > 1:
                for i in range(1, sample_n):
                    stamp(r0 + (r1 - r0) * i // sample_n, c0 + (c1 - c0) * i // sample_n)
    dense = dilation(dense, np.ones((5, 5)))
    return erosion(dense, np.ones((5, 5))).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Constants and helpers
# ---------------------------------------------------------------------------------------------


def test_constants():
    assert len(KEYPOINT_NAMES) == P.NUM_KEYPOINTS == 18
    assert KEYPOINT_NAMES[2] == "r_shoulder" and KEYPOINT_NAMES[14] == "r_eye"
    assert len(MASK_LIMBS) == 23 and len(P.SKELETON) == 19 and len(PART_GROUPS) == 7
    # orig §2.4 lists the limbs 1-based.
    spec = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12],
            [12, 13], [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18], [2, 17], [2, 18],
            [9, 12], [12, 6], [9, 3], [17, 18]]
    assert [tuple(x - 1 for x in limb) for limb in spec] == list(MASK_LIMBS)
    perm = FLIP_PERMUTATION
    assert [perm[perm[k]] for k in range(18)] == list(range(18))
    for k, name in enumerate(KEYPOINT_NAMES):
        mirrored = name.replace("r_", "x_").replace("l_", "r_").replace("x_", "l_")
        assert KEYPOINT_NAMES[perm[k]] == mirrored
    # the mask limb set is mirror-symmetric (a flip maps limbs onto limbs)
    limbs = {frozenset(lb) for lb in MASK_LIMBS}
    assert {frozenset((perm[a], perm[b])) for a, b in MASK_LIMBS} == limbs


def test_validation_errors():
    with pytest.raises(ValueError, match=r"\(18, 3\).*got \(17, 3\)"):
        validate_rcv(np.zeros((17, 3)))
    with pytest.raises(ValueError, match="my_pose: contains NaN"):
        validate_rcv(np.full((18, 3), np.nan), name="my_pose")
    with pytest.raises(ValueError, match="radius"):
        pose_heatmap(np.zeros((18, 3)), (8, 8), radius=2.5)
    with pytest.raises(ValueError, match="style"):
        part_boxes(np.zeros((18, 3)), (128, 64), style="coco")
    with pytest.raises(ValueError, match="expected"):
        denormalize_rcv(np.zeros(50), (128, 64))
    assert rcv_from_array(np.arange(54)).shape == (18, 3)
    assert rcv_from_array(np.zeros((4, 54)))[0, 1, 2] == 0


def test_csv_round_trip():
    rcv = csv_to_rcv(ROW_Y, ROW_X)
    assert rcv.dtype == np.float32 and tuple(rcv[17]) == (0, 0, 0)
    assert tuple(rcv[3]) == (44, 14, 1)
    ys, xs = rcv_to_csv(rcv)
    assert ys.tolist() == ROW_Y and xs.tolist() == ROW_X
    batch = csv_to_rcv([ROW_Y, ROW_Y], [ROW_X, ROW_X])
    assert batch.shape == (2, 18, 3)
    assert rcv_to_csv(torch.from_numpy(batch))[1][1].tolist() == ROW_X


def test_scaled_radius_and_margins():
    assert scaled_radius(4, 128) == 4 and scaled_radius(4, 64) == 2 and scaled_radius(7, 64) == 4
    assert scaled_radius(4, 256, paper_height=256) == 4 and scaled_radius(1, 8) == 1
    assert box_margins((128, 64)) == {"r": 6, "r_single": 10}
    assert box_margins((64, 32)) == {"r": 3, "r_single": 5}
    df = box_margins((128, 128), "deepfashion")
    assert df == {"r": 5, "r_single": 10, "r_partial": 10, "r_single_partial": 20,
                  "nose_whole": 5, "nose_partial": 13}  # 12.5 rounds half-up


# ---------------------------------------------------------------------------------------------
# Heatmap (orig §2.3)
# ---------------------------------------------------------------------------------------------


def test_heatmap_single_disk_has_49_pixels():
    hm = pose_heatmap(make_rcv(nose=(60, 30)), (128, 64), radius=4)
    assert hm.shape == (18, 128, 64) and hm.dtype == np.float32
    assert set(np.unique(hm)) == {-1.0, 1.0}
    assert (hm[0] > 0).sum() == 49 and (hm[1:] > 0).sum() == 0
    rows = (hm[0] > 0).sum(1)
    assert rows[56] == 1 and rows[57] == 5 and rows[58] == 7 and rows[60] == 9 and rows[64] == 1
    assert hm[0, 60, 30] == 1 and hm[0, 60, 34] == 1 and hm[0, 60, 35] == -1 and hm[0, 63, 33] == -1


def test_heatmap_truncates_and_clips():
    hm = pose_heatmap(make_rcv(nose=(60.9, 30.9)), (128, 64))
    assert hm[0, 60, 34] == 1 and hm[0, 60, 35] == -1  # centre int(60.9), int(30.9) = (60, 30)
    corner = pose_heatmap(make_rcv(neck=(0, 0), r_eye=(127, 63)), (128, 64))
    assert (corner[1] > 0).sum() == 17 and (corner[14] > 0).sum() == 17  # quarter disk
    # outside the image (after truncation) → nothing, even when the disk would reach in
    out = pose_heatmap(make_rcv(nose=(128, 30), neck=(60, -1), r_eye=(-1.0, 5)), (128, 64))
    assert (out == -1).all()
    # int() truncates toward zero: row -0.5 lands on row 0
    assert pose_heatmap(make_rcv(nose=(-0.5, 10)), (128, 64))[0, 0, 10] == 1
    # visibility below 0.5 → no disk
    rcv = make_rcv(nose=(60, 30))
    rcv[0, 2] = 0.4
    assert (pose_heatmap(rcv, (128, 64)) == -1).all()


def test_heatmap_equals_tf_inflate_transcription():
    rng = np.random.default_rng(0)
    for rcv in random_rcv(rng, 3, 32, 24, margin=2):
        np.testing.assert_array_equal(pose_heatmap(rcv, (32, 24), 4), ref_heatmap_tf(rcv, 32, 24))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size,radius", [((128, 64), 4), ((64, 32), 2), ((40, 40), 5)])
def test_heatmap_numpy_equals_torch(size, radius, device):
    rcv = random_rcv(np.random.default_rng(radius), 8, *size, margin=4)
    ref = pose_heatmap(rcv, size, radius)
    out = pose_heatmap(torch.from_numpy(rcv).to(device), size, radius)
    assert out.shape == (8, 18) + size and out.dtype == torch.float32 and out.device.type == device
    np.testing.assert_array_equal(out.cpu().numpy(), ref)
    single = pose_heatmap(torch.from_numpy(rcv[3]).to(device), size, radius)
    np.testing.assert_array_equal(single.cpu().numpy(), ref[3])


# ---------------------------------------------------------------------------------------------
# Pose mask (orig §2.4)
# ---------------------------------------------------------------------------------------------


def _art(rows: list[str]) -> np.ndarray:
    return np.array([[ch == "#" for ch in row] for row in rows], dtype=np.uint8)


def test_mask_single_limb_hand_drawn():
    # neck (10, 5) – r_shoulder (10, 13), radius 2: dist 8 → sampleN 4 → centres at cols 5,7,9,11,13.
    # Radius-2 disks: row ±2 one pixel, ±1 three, 0 five. The 5×5 closing fills the one-pixel gaps
    # of rows 8 and 12 (every 5×5 window over them meets a centre column) and adds nothing else.
    mask = pose_mask(make_rcv(neck=(10, 5), r_shoulder=(10, 13)), (20, 20), radius=2)
    expected = np.zeros((20, 20), np.uint8)
    expected[6:15] = _art([
        "....................",
        "....................",
        ".....#########......",  # row 8
        "....###########.....",
        "...#############....",  # row 10
        "....###########.....",
        ".....#########......",  # row 12
        "....................",
        "....................",
    ])
    np.testing.assert_array_equal(mask, expected)
    # a keypoint that is not part of a complete limb is not stamped
    assert pose_mask(make_rcv(nose=(10, 10)), (20, 20), 2).sum() == 0
    np.testing.assert_array_equal(
        pose_mask(make_rcv(neck=(10, 5), r_shoulder=(10, 13), l_wrist=(3, 3)), (20, 20), 2), expected)


def test_mask_closing_keeps_the_border():
    # The same limb on row 0: disks are clipped and skimage's reflect padding keeps row 0 set.
    mask = pose_mask(make_rcv(neck=(0, 5), r_shoulder=(0, 13)), (20, 20), radius=2)
    assert mask[0, 3:16].all() and not mask[0, :3].any() and not mask[0, 16:].any()
    assert mask[1, 4:15].all() and mask[2, 5:14].all() and not mask[3:].any()
    # zero padding (scipy.ndimage.binary_closing's default) would erode row 0 away
    from scipy.ndimage import binary_closing
    raw = np.zeros((20, 20), bool)
    raw[0, 3:16] = raw[1, 4:15] = True
    raw[2, [5, 7, 9, 11, 13]] = True
    assert not binary_closing(raw, np.ones((5, 5)))[0].any()


def test_mask_limb_points_python2_floor_division():
    # c1 - c0 = -7, sampleN = int(7 / 2) = 3: Python 2 floors -7/3 → -3 and -14/3 → -5.
    pts = P._limb_points_np(10, 10, 10, 3, radius=2)
    assert pts == [(10, 10), (10, 3), (10, 7), (10, 5)]  # truncation would give cols 8, 6
    assert P._limb_points_np(0, 0, 0, 3, radius=2) == [(0, 0), (0, 3)]  # sampleN 1: endpoints only


def test_mask_equals_original_transcription():
    rng = np.random.default_rng(1)
    for radius, (h, w) in [(4, (64, 32)), (3, (40, 30))]:
        for rcv in random_rcv(rng, 3, h, w, margin=0, integer=True):
            np.testing.assert_array_equal(pose_mask(rcv, (h, w), radius),
                                          ref_pose_mask(rcv, h, w, radius))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size,radius", [((128, 64), 7), ((128, 64), 4), ((64, 32), 4),
                                         ((96, 96), 8)])
def test_mask_numpy_equals_torch(size, radius, device):
    rng = np.random.default_rng(radius + size[0])
    rcv = np.concatenate([random_rcv(rng, 10, *size, margin=radius + 3),
                          random_rcv(rng, 6, *size, margin=0, integer=True)])
    ref = pose_mask(rcv, size, radius)
    out = pose_mask(torch.from_numpy(rcv).to(device), size, radius)
    assert out.dtype == torch.uint8 and out.shape == (16,) + size and out.device.type == device
    np.testing.assert_array_equal(out.cpu().numpy(), ref)
    np.testing.assert_array_equal(pose_mask(torch.from_numpy(rcv[0]), size, radius).numpy(), ref[0])
    assert pose_mask(torch.zeros(2, 18, 3), size, radius).sum() == 0


# ---------------------------------------------------------------------------------------------
# Part boxes (orig §2.5)
# ---------------------------------------------------------------------------------------------


def test_market_boxes_of_a_real_row():
    boxes, vis = part_boxes(csv_to_rcv(ROW_Y, ROW_X), (128, 64))
    assert boxes.dtype == np.int64 and vis.dtype == np.float32
    expected = [[4, 14, 31, 52],  # head: rows 10..25, cols 20..46, ±6
                [18, 8, 67, 63],  # upper body: cols 14..63 (+6 clipped at 63)
                [54, 8, 118, 49], [18, 40, 62, 63], [19, 8, 67, 26], [54, 8, 107, 49],
                [55, 23, 118, 40]]
    assert boxes.tolist() == expected and vis.tolist() == [1] * 7


def test_market_single_keypoint_and_invisible_parts():
    boxes, vis = part_boxes(make_rcv(nose=(5, 30)), (128, 64))
    assert boxes[0].tolist() == [0, 20, 15, 40]  # one keypoint → ±10, clipped at 0
    assert vis.tolist() == [1, 0, 0, 0, 0, 0, 0]
    assert boxes[1:].tolist() == [[0, 0, 1, 1]] * 6
    # two keypoints at the same pixel count as two (len(xs) > 1 in the original) → ±6
    assert part_boxes(make_rcv(nose=(50, 30), neck=(50, 30)), (128, 64))[0][0].tolist() == \
        [44, 24, 56, 36]
    # scaled margins at 64×32: ±3 / ±5
    assert part_boxes(make_rcv(nose=(20, 10)), (64, 32))[0][0].tolist() == [15, 5, 25, 15]


def test_deepfashion_boxes_whole_body_rules():
    size = (256, 256)
    whole = make_rcv(nose=(50, 128), neck=(70, 128), l_knee=(200, 150), r_ankle=(240, 100))
    boxes, vis = part_boxes(whole, size, "deepfashion")
    assert boxes.tolist() == [[30, 118, 80, 138],  # nose moved up 10 → rows 40..70, ±10
                              [0, 0, 1, 1], [190, 90, 250, 160], [0, 0, 1, 1], [0, 0, 1, 1],
                              [180, 130, 220, 170],  # one keypoint → ±20
                              [220, 80, 255, 120]]  # 240 + 20 clipped at 255
    assert vis.tolist() == [1, 0, 1, 0, 0, 1, 1]
    # Market rule on the same pose: no nose shift; at H = 256 the margins scale ×2 to ±12
    assert part_boxes(whole, size, "market")[0][0].tolist() == [38, 116, 82, 140]
    # no right knee/ankle → not WholeBody: r 20, r_single 40, nose moved up 25
    partial = make_rcv(nose=(50, 128), neck=(70, 128), l_knee=(200, 150))
    boxes, vis = part_boxes(partial, size, "deepfashion")
    assert boxes[0].tolist() == [5, 108, 90, 148]
    assert boxes[2].tolist() == boxes[5].tolist() == [160, 110, 240, 190]
    assert vis.tolist() == [1, 0, 1, 0, 0, 1, 0]
    # the nose shift clips at 0 *before* the margin: row 15 → 0, then ±40 → rows 0..40
    assert part_boxes(make_rcv(nose=(15, 128)), size, "deepfashion")[0][0].tolist() == \
        [0, 88, 40, 168]
    # the ankle alone satisfies its side of the WholeBody test
    ankles = make_rcv(nose=(100, 128), l_ankle=(240, 150), r_ankle=(240, 100))
    assert part_boxes(ankles, size, "deepfashion")[0][0].tolist() == [70, 108, 110, 148]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("style,size", [("market", (128, 64)), ("market", (64, 32)),
                                        ("deepfashion", (256, 256)), ("deepfashion", (128, 96))])
def test_boxes_numpy_equals_torch(style, size, device):
    rng = np.random.default_rng(size[0])
    rcv = np.concatenate([random_rcv(rng, 24, *size, margin=12, p_vis=p) for p in (0.9, 0.3, 0.1)])
    boxes, vis = part_boxes(rcv, size, style)
    tb, tv = part_boxes_batch(torch.from_numpy(rcv).to(device), size, style)
    assert tb.dtype == torch.int64 and tv.dtype == torch.float32 and tb.shape == (72, 7, 4)
    np.testing.assert_array_equal(tb.cpu().numpy(), boxes)
    np.testing.assert_array_equal(tv.cpu().numpy(), vis)
    b0, v0 = part_boxes(torch.from_numpy(rcv[0]), size, style)
    assert b0.shape == (7, 4) and b0.tolist() == boxes[0].tolist()


# ---------------------------------------------------------------------------------------------
# Flip and normalisation
# ---------------------------------------------------------------------------------------------


def test_flip_swaps_left_right_and_mirrors_columns():
    rcv = make_rcv(r_shoulder=(20, 10), l_wrist=(50, 60), nose=(5, 31))
    f = flip_rcv(rcv, 64)
    assert tuple(f[5]) == (20, 53, 1)  # right shoulder → left shoulder at 63 − 10
    assert tuple(f[4]) == (50, 3, 1) and tuple(f[0]) == (5, 32, 1)
    assert tuple(f[2]) == (0, 0, 0) and tuple(f[7]) == (0, 0, 0)  # missing stays missing
    np.testing.assert_array_equal(flip_rcv(f, 64), rcv)
    t = torch.from_numpy(rcv)
    np.testing.assert_array_equal(flip_rcv(t, 64).numpy(), f)


def test_flip_matches_mirrored_image():
    rcv = random_rcv(np.random.default_rng(5), 4, 128, 64, margin=0, integer=True)
    hm = pose_heatmap(rcv, (128, 64))
    hm_f = pose_heatmap(flip_rcv(rcv, 64), (128, 64))
    # channel k of the flipped pose = channel perm[k] of the original, mirrored like img[..., ::-1]
    np.testing.assert_array_equal(hm_f, hm[:, list(FLIP_PERMUTATION), :, ::-1])
    boxes_f, vis_f = part_boxes(flip_rcv(rcv, 64), (128, 64))
    boxes, vis = part_boxes(rcv, (128, 64))
    # groups map onto each other (4↔5, 6↔7; 1-3 symmetric) with x → 63 − x
    swap = [0, 1, 2, 4, 3, 6, 5]
    exp = boxes[:, swap][..., [0, 3, 2, 1]] * [1, -1, 1, -1] + [0, 63, 0, 63]
    exp = np.where(vis[:, swap, None] > 0, exp, [0, 0, 1, 1])
    np.testing.assert_array_equal(boxes_f, exp)


def test_normalize_hand_values_and_round_trip():
    rcv = make_rcv(nose=(64, 0), neck=(127, 63))
    vec = normalize_rcv(rcv, (128, 64))
    assert vec.shape == (54,)
    np.testing.assert_allclose(vec[:6], [0, -1, 1, 127 / 64 - 1, 63 / 32 - 1, 1])
    np.testing.assert_allclose(vec[6:9], [-1, -1, 0])  # missing → (−1, −1, 0), orig §3.7
    batch = random_rcv(np.random.default_rng(2), 5, 128, 64, margin=0, integer=True)
    back = denormalize_rcv(normalize_rcv(batch, (128, 64)), (128, 64))
    np.testing.assert_allclose(back, batch, atol=1e-4)
    tb = denormalize_rcv(normalize_rcv(torch.from_numpy(batch), (128, 64)), (128, 64))
    np.testing.assert_allclose(tb.numpy(), batch, atol=1e-4)
    # py_poseInflate de-normalisation: clip into the image; V < 0.5 → (0, 0, 0)
    dec = np.zeros((18, 3), np.float32)
    dec[0] = (1.0, -1.5, 0.7)
    dec[1] = (0.0, 0.0, 0.4)
    out = denormalize_rcv(dec, (128, 64))
    assert tuple(out[0]) == (127, 0, 1) and tuple(out[1]) == (0, 0, 0)
    assert tuple(denormalize_rcv(dec, (128, 64), clip=False)[0]) == (128, -16, 1)
    np.testing.assert_array_equal(denormalize_rcv(torch.from_numpy(dec.reshape(54)), (128, 64)).numpy(),
                                  out)


# ---------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------------

sizes = st.sampled_from([(32, 16), (64, 32), (48, 48), (128, 64)])


def _disk_area(radius):
    i = np.arange(-radius, radius + 1)
    return int(((i[:, None] ** 2 + i[None] ** 2) <= radius**2).sum())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), size=sizes, radius=st.integers(1, 5))
def test_property_heatmap(seed, size, radius):
    rcv = random_rcv(np.random.default_rng(seed), 1, *size, margin=radius)[0]
    hm = pose_heatmap(rcv, size, radius)
    assert set(np.unique(hm)) <= {-1.0, 1.0}
    counts = (hm > 0).sum((1, 2))
    assert (counts <= _disk_area(radius)).all()
    assert (counts[rcv[:, 2] < 0.5] == 0).all()
    r, c = np.trunc(rcv[:, 0]).astype(int), np.trunc(rcv[:, 1]).astype(int)
    inside = (rcv[:, 2] >= 0.5) & (r >= 0) & (r < size[0]) & (c >= 0) & (c < size[1])
    assert (counts[inside] > 0).all() and (counts[~inside] == 0).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), size=sizes, radius=st.integers(2, 7))
def test_property_mask(seed, size, radius):
    h, w = size
    rcv = random_rcv(np.random.default_rng(seed), 1, h, w, margin=0)[0]
    mask = pose_mask(rcv, size, radius)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    r, c = np.trunc(rcv[:, 0]), np.trunc(rcv[:, 1])
    yy, xx = np.mgrid[:h, :w]
    near = np.zeros((h, w), bool)  # pixels within reach of a complete limb
    must = np.zeros((h, w), bool)  # endpoint disks the closing must keep
    for a, b in MASK_LIMBS:
        if rcv[a, 2] < 0.5 or rcv[b, 2] < 0.5:
            continue
        p, q = np.array([r[a], c[a]]), np.array([r[b], c[b]])
        d = q - p
        t = np.clip(((yy - p[0]) * d[0] + (xx - p[1]) * d[1]) / max(d @ d, 1e-9), 0, 1)
        dist = np.hypot(yy - (p[0] + t * d[0]), xx - (p[1] + t * d[1]))
        # disk radius + floor rounding of sample points (< √2) + 5×5 dilation (2√2)
        near |= dist <= radius + 3 * math.sqrt(2) + 1e-6
        for e in (p, q):
            must |= (yy - e[0]) ** 2 + (xx - e[1]) ** 2 <= radius**2
    assert not (mask.astype(bool) & ~near).any()
    assert mask[must].all()  # the closing is extensive


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), size=st.sampled_from([(128, 64), (64, 32), (256, 256)]),
       style=st.sampled_from(["market", "deepfashion"]))
def test_property_boxes(seed, size, style):
    h, w = size
    rcv = random_rcv(np.random.default_rng(seed), 1, h, w, margin=0, p_vis=0.5)[0]
    boxes, vis = part_boxes(rcv, size, style)
    y1, x1, y2, x2 = boxes.T
    assert (y1 >= 0).all() and (y2 <= h - 1).all() and (x1 >= 0).all() and (x2 <= w - 1).all()
    assert (y1 <= y2).all() and (x1 <= x2).all()
    for p, group in enumerate(PART_GROUPS):
        visible = [k for k in group if rcv[k, 2] >= 0.5]
        assert vis[p] == float(bool(visible))
        if not visible:
            assert boxes[p].tolist() == [0, 0, 1, 1]
        for k in visible:  # every keypoint but the (shifted) DF nose lies inside its box
            if not (style == "deepfashion" and k == 0):
                assert y1[p] <= int(rcv[k, 0]) <= y2[p] and x1[p] <= int(rcv[k, 1]) <= x2[p]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), w=st.integers(8, 300))
def test_property_flip_involution(seed, w):
    rcv = random_rcv(np.random.default_rng(seed), 3, 50, w, margin=0, integer=True)
    f = flip_rcv(rcv, w)
    np.testing.assert_array_equal(flip_rcv(f, w), rcv)
    np.testing.assert_array_equal(f[..., 2], rcv[..., list(FLIP_PERMUTATION), 2])
