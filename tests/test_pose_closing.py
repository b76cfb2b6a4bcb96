"""The pose mask's 5×5 closing (orig §2.4) must stay bit-identical to the hand-written one it replaced.

Two oracles, both written before the closing moved to ``scipy.ndimage``:

- :func:`closing_reference` is a verbatim copy of ``dpiglib.data.pose._closing_np`` as of commit
  1b52b09 (5×5 max then min over ``sliding_window_view`` with numpy 'symmetric' padding, i.e.
  edge pixels repeated, skimage's border handling). :func:`dpiglib.data.pose._closing_np` must equal
  it on random masks of 64×32, 128×64 and 256×256, many of them touching every border.
- ``tests/golden/pose_masks_1b52b09.npz`` holds random poses and the masks
  :func:`dpiglib.data.pose.pose_mask` gave for them at commit 1b52b09 (written by
  ``python tests/test_pose_closing.py --record``; the poses are stored, so the file does not
  depend on numpy's random streams). Both the NumPy and the torch path must reproduce them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dpiglib.data import pose as P

GOLDEN = Path(__file__).parent / "golden" / "pose_masks_1b52b09.npz"
SIZES = ((64, 32), (128, 64), (256, 256))
#: (size, radius) cases of the recorded masks: synth-tiny radii 2/4, Market 4/7, DF 4 and 14.
MASK_CASES = (((64, 32), 2), ((64, 32), 4), ((128, 64), 4), ((128, 64), 7), ((256, 256), 4),
              ((256, 256), 14))
POSES_PER_CASE = 24


def closing_reference(mask: np.ndarray) -> np.ndarray:
    """Verbatim copy of ``dpiglib.data.pose._closing_np`` at commit 1b52b09 (the oracle)."""
    p = 5 // 2
    win = np.lib.stride_tricks.sliding_window_view
    dil = win(np.pad(mask, p, mode="symmetric"), (5, 5)).max(axis=(-2, -1))
    return win(np.pad(dil, p, mode="symmetric"), (5, 5)).min(axis=(-2, -1))


def random_masks(rng: np.random.Generator, h: int, w: int, n: int) -> list[np.ndarray]:
    """``n`` uint8 {0, 1} masks: noise of several densities and stamped blobs, most of them with
    set pixels, gaps and runs on all four border rows/columns and the corners; plus fixed edge
    cases (empty, full, single pixels in each corner, one-pixel gaps next to the border)."""
    out = []
    for k in range(n):
        kind = k % 4
        if kind == 0:  # salt noise
            m = rng.random((h, w)) < rng.choice([0.02, 0.1, 0.3, 0.6, 0.9])
        elif kind == 1:  # blobs: disks of random radius, some centred outside the image
            m = np.zeros((h, w), bool)
            yy, xx = np.mgrid[:h, :w]
            for _ in range(rng.integers(1, 12)):
                r0, c0 = rng.integers(-4, h + 4), rng.integers(-4, w + 4)
                m |= (yy - r0) ** 2 + (xx - c0) ** 2 <= rng.integers(1, 9) ** 2
        elif kind == 2:  # thin strokes with one- and two-pixel gaps (what the closing fills)
            m = np.zeros((h, w), bool)
            for _ in range(rng.integers(2, 10)):
                r0, c0 = rng.integers(0, h), rng.integers(0, w)
                m[r0, rng.integers(0, w)::rng.integers(2, 4)] = True  # dashed row to the edge
                m[:rng.integers(1, h + 1):rng.integers(2, 4), c0] = True  # dashed column from row 0
        else:  # sparse noise with dense border bands
            m = rng.random((h, w)) < 0.05
        if kind != 3 or rng.random() < 0.5:
            # every border: random runs and isolated pixels, always including the corners' rows
            for edge in (m[0], m[-1], m[:, 0], m[:, -1], m[1], m[:, 1], m[-2], m[:, -2]):
                edge |= rng.random(edge.shape) < rng.choice([0.1, 0.5, 0.9])
            m[0, 0], m[0, -1], m[-1, 0], m[-1, -1] = rng.random(4) < 0.5
        out.append(m.astype(np.uint8))
    fixed = [np.zeros((h, w), np.uint8), np.ones((h, w), np.uint8)]
    for r, c in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (0, w // 2), (h // 2, 0)):
        one = np.zeros((h, w), np.uint8)
        one[r, c] = 1
        fixed.append(one)
    gaps = np.zeros((h, w), np.uint8)
    gaps[0, ::2] = gaps[-1, ::2] = gaps[::2, 0] = gaps[::2, -1] = 1  # one-pixel gaps on the border
    gaps[1, 1::3] = gaps[-2, 1::3] = gaps[1::3, 1] = gaps[1::3, -2] = 1
    fixed.append(gaps)
    band = np.zeros((h, w), np.uint8)
    band[:3], band[-3:], band[:, :3], band[:, -3:] = 1, 1, 1, 1  # frame; interior hole
    band[0, w // 2] = band[-1, w // 3] = band[h // 2, 0] = band[h // 3, -1] = 0  # nicks
    fixed.append(band)
    return out + fixed


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_closing_equals_the_hand_written_one(size):
    h, w = size
    rng = np.random.default_rng(h * 1000 + w)
    n = 120 if h * w <= 128 * 64 else 60
    masks = random_masks(rng, h, w, n)
    touching = 0
    for k, m in enumerate(masks):
        want = closing_reference(m)
        got = P._closing_np(m)
        assert got.dtype == want.dtype == np.uint8 and got.shape == (h, w)
        np.testing.assert_array_equal(got, want, err_msg=f"mask {k} of {size}")
        touching += bool(m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any())
        # the border survives where it should: a closing is extensive
        assert (got >= m).all()
    assert touching >= 2 * n // 3  # most cases touch all four borders


def test_closing_is_not_scipys_default_binary_closing():
    # The oracle keeps a border run that zero padding would erode (the trap the test above guards).
    from scipy.ndimage import binary_closing

    m = np.zeros((20, 20), np.uint8)
    m[0, 3:16] = 1
    assert closing_reference(m)[0, 3:16].all() and P._closing_np(m)[0, 3:16].all()
    assert not binary_closing(m, np.ones((5, 5)))[0].any()


def random_poses(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Poses whose keypoints reach 4 px beyond every border; a quarter sit on an edge row/column."""
    r = rng.uniform(-4, h + 3, (n, 18))
    c = rng.uniform(-4, w + 3, (n, 18))
    edge = rng.random((n, 18)) < 0.25
    r = np.where(edge & (rng.random((n, 18)) < 0.5), rng.choice([0, h - 1], (n, 18)), r)
    c = np.where(edge & (rng.random((n, 18)) < 0.5), rng.choice([0, w - 1], (n, 18)), c)
    v = rng.random((n, 18)) < 0.85
    return np.stack([r * v, c * v, v], -1).astype(np.float32)


def record() -> None:
    """Write :data:`GOLDEN` from the current ``pose_mask`` (run once, before a change)."""
    arrays = {}
    for (h, w), radius in MASK_CASES:
        rcv = random_poses(np.random.default_rng(h * 7919 + w * 31 + radius), POSES_PER_CASE, h, w)
        masks = P.pose_mask(rcv, (h, w), radius)
        key = f"{h}x{w}_r{radius}"
        arrays[f"rcv_{key}"] = rcv
        arrays[f"mask_{key}"] = np.packbits(masks.astype(bool), axis=-1)
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **arrays)
    print(f"wrote {GOLDEN}")


@pytest.mark.parametrize("case", MASK_CASES, ids=lambda c: f"{c[0][0]}x{c[0][1]}_r{c[1]}")
def test_pose_masks_match_the_recorded_ones(case):
    (h, w), radius = case
    key = f"{h}x{w}_r{radius}"
    with np.load(GOLDEN) as golden:
        rcv = golden[f"rcv_{key}"]
        want = np.unpackbits(golden[f"mask_{key}"], axis=-1, count=w).astype(np.uint8)
    assert rcv.shape == (POSES_PER_CASE, 18, 3)
    assert want[:, [0, -1]].any() and want[:, :, [0, -1]].any()  # the poses reach the borders
    got = P.pose_mask(rcv, (h, w), radius)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)
    single = np.stack([P.pose_mask(p, (h, w), radius) for p in rcv[:3]])
    np.testing.assert_array_equal(single, want[:3])
    got_torch = P.pose_mask(torch.from_numpy(rcv), (h, w), radius)
    np.testing.assert_array_equal(got_torch.numpy(), want)


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        sys.exit("usage: python tests/test_pose_closing.py --record")
