"""Property-based tests (hypothesis): the annotation/pairs CSV parser and pose geometry.

tests/test_pose.py already checks single-function invariants (heatmap disks, mask reach, boxes
inside the image, flip involution). These add the relations *between* functions: flipping a pose
and flipping its maps agree, integer shifts move heatmaps, the CSV writer and reader invert each
other for any legal table, and the reader answers any malformed text with a DatasetError naming
the file and line, never with another exception.
"""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dpiglib.data.annotations import (DatasetError, format_annotation_row, read_annotation_csv,
                                      read_pairs_csv, write_annotation_csv, write_pairs_csv)
from dpiglib.data.pose import (FLIP_PERMUTATION, csv_to_rcv, denormalize_rcv, flip_rcv,
                               normalize_rcv, pose_heatmap, rcv_to_csv)

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

sizes = st.sampled_from([(64, 32), (128, 64), (40, 40), (256, 176)])


@st.composite
def int_poses(draw, size, p_missing=0.3):
    """(18, 3) float32 with integer in-image coordinates; missing keypoints are (0, 0, 0)."""
    h, w = size
    rcv = np.zeros((18, 3), np.float32)
    for k in range(18):
        if draw(st.floats(0, 1)) >= p_missing:
            rcv[k] = (draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1)), 1)
    return rcv


names_st = st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1,
                   max_size=24).filter(lambda s: s.strip() == s)


# --------------------------------------------------------------------------------------------
# Annotation CSV: round trip, tolerated variations, malformed input
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), size=sizes, n=st.integers(1, 6))
def test_csv_round_trip(tmp_path, data, size, n):
    names = data.draw(st.lists(names_st, min_size=n, max_size=n, unique=True))
    rcvs = [data.draw(int_poses(size)) for _ in range(n)]
    p = tmp_path / "a.csv"
    write_annotation_csv(p, names, rcvs)
    back = read_annotation_csv(p, image_size=size)  # in-image, so the bound check passes
    assert list(back) == names
    for name, rcv in zip(names, rcvs):
        np.testing.assert_array_equal(back[name], rcv)
    # the released format: "%s: %s: %s" of Python int lists, -1 for missing
    ys, xs = rcv_to_csv(np.stack(rcvs))
    lines = p.read_text().splitlines()
    assert lines[0] == "name:keypoints_y:keypoints_x"
    for line, name, y, x in zip(lines[1:], names, ys, xs):
        assert line == "%s: %s: %s" % (name, str(y.tolist()), str(x.tolist()))


@settings(max_examples=30, **SETTINGS)
@given(data=st.data(), size=sizes)
def test_csv_float_coordinates_truncate_like_the_network_inputs(tmp_path, data, size):
    h, w = size
    rcv = data.draw(int_poses(size))
    frac = np.array(data.draw(st.lists(st.floats(0, 0.999), min_size=36, max_size=36)),
                    np.float32).reshape(18, 2)
    noisy = rcv.copy()
    noisy[:, :2] += frac * (rcv[:, 2:] > 0)
    p = tmp_path / "f.csv"
    write_annotation_csv(p, ["x.png"], [noisy])
    back = read_annotation_csv(p)["x.png"]
    np.testing.assert_array_equal(back, rcv)  # int() truncation, as orig §2.3 does
    np.testing.assert_array_equal(pose_heatmap(back, size, 2), pose_heatmap(noisy, size, 2))


@settings(max_examples=30, **SETTINGS)
@given(data=st.data(), crlf=st.booleans(), bom=st.booleans(),
       pad=st.sampled_from(["", " ", "  ", "\t"]), blank=st.booleans())
def test_csv_tolerated_variations_parse_the_same(tmp_path, data, crlf, bom, pad, blank):
    names = data.draw(st.lists(names_st, min_size=1, max_size=4, unique=True))
    rcvs = [data.draw(int_poses((64, 32))) for _ in names]
    p = tmp_path / "v.csv"
    write_annotation_csv(p, names, rcvs)
    lines = p.read_text().splitlines()
    lines = [lines[0]] + [pad + ln.replace(": ", ":" + pad + " ") + pad for ln in lines[1:]]
    if blank:
        lines.insert(1, "")
    eol = "\r\n" if crlf else "\n"
    p.write_bytes((("\ufeff" if bom else "") + eol.join(lines) + eol).encode("utf-8"))
    back = read_annotation_csv(p)
    assert list(back) == names
    for name, rcv in zip(names, rcvs):
        np.testing.assert_array_equal(back[name], rcv)


_tokens = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=4), st.booleans(), st.none(),
                    st.lists(st.integers(0, 5), max_size=2))


@st.composite
def malformed_rows(draw):
    """A data row damaged in one of several ways (some damage still leaves a legal row)."""
    good_y, good_x = [str(list(range(18))), str(list(range(18)))]
    kind = draw(st.sampled_from(["values", "count", "fields", "text", "name"]))
    if kind == "values":
        ys = [draw(_tokens) if draw(st.booleans()) else k for k in range(18)]
        return "n.png: %s: %s" % (json.dumps(ys) if draw(st.booleans()) else str(ys), good_x)
    if kind == "count":
        m = draw(st.integers(0, 40).filter(lambda m: m != 18))
        return "n.png: %s: %s" % (str(list(range(m))), good_x)
    if kind == "fields":
        parts = draw(st.lists(st.sampled_from(["n.png", good_y, good_x, ""]), max_size=6))
        return ":".join(parts)
    if kind == "name":
        return "%s: %s: %s" % (draw(st.sampled_from(["", "   "])), good_y, good_x)
    return draw(st.text(max_size=80).filter(lambda s: "\n" not in s and "\r" not in s))


@settings(max_examples=150, **SETTINGS)
@given(row=malformed_rows(), before=st.integers(0, 3))
def test_csv_malformed_rows_raise_dataset_error_naming_file_and_line(tmp_path, row, before):
    assume(row.strip())
    good = format_annotation_row("ok_%d.png", np.zeros((18, 3), np.float32))
    p = tmp_path / "m.csv"
    lines = ["name:keypoints_y:keypoints_x"] + [good % i for i in range(before)] + [row]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        out = read_annotation_csv(p, image_size=(64, 32))
    except DatasetError as exc:  # the only acceptable failure
        msg = str(exc)
        assert str(p) in msg and f"line {before + 2}" in msg, msg
        assert exc.line == before + 2
        return
    # still legal: then every parsed pose is a proper (18, 3) in-image rcv
    for rcv in out.values():
        assert rcv.shape == (18, 3) and np.isfinite(rcv).all()
        vis = rcv[:, 2] > 0
        assert (rcv[vis, 0] <= 63).all() and (rcv[vis, 1] <= 31).all() and (rcv >= 0).all()


@pytest.mark.parametrize("ys", ["[%s]" % ", ".join(["1" + "0" * 400] * 18),  # > float range
                                "[" * 5000 + "]" * 5000,  # json RecursionError
                                "[1e999" + ", 1" * 17 + "]"])  # inf
def test_csv_extreme_values_raise_dataset_error(tmp_path, ys):
    p = tmp_path / "e.csv"
    p.write_text("name:keypoints_y:keypoints_x\nn.png: %s: %s\n" % (ys, list(range(18))))
    with pytest.raises(DatasetError, match=r"e\.csv, line 2: keypoints_y"):
        read_annotation_csv(p)


@settings(max_examples=40, **SETTINGS)
@given(header=st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s and
                                          s.strip() and [t.strip() for t in s.split(":")] !=
                                          ["name", "keypoints_y", "keypoints_x"]))
def test_csv_wrong_header_is_line_1(tmp_path, header):
    p = tmp_path / "h.csv"
    p.write_text(header + "\nn.png: [1]: [2]\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"h\.csv, line 1: expected the header"):
        read_annotation_csv(p)


@settings(max_examples=30, **SETTINGS)
@given(pairs=st.lists(st.tuples(names_st, names_st), max_size=8))
def test_pairs_round_trip(tmp_path, pairs):
    p = tmp_path / "p.csv"
    write_pairs_csv(p, pairs)
    assert read_pairs_csv(p) == pairs


# --------------------------------------------------------------------------------------------
# Pose geometry: relations between the functions
# --------------------------------------------------------------------------------------------

perm = list(FLIP_PERMUTATION)


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), size=sizes, radius=st.integers(1, 5))
def test_heatmap_of_flipped_pose_is_mirrored_heatmap(data, size, radius):
    rcv = data.draw(int_poses(size))
    hm = pose_heatmap(rcv, size, radius)
    hm_f = pose_heatmap(flip_rcv(rcv, size[1]), size, radius)
    # channel k of the flipped pose is the mirror image of channel perm[k] (left ↔ right)
    np.testing.assert_array_equal(hm_f, hm[perm][:, :, ::-1])


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), radius=st.integers(1, 4), dy=st.integers(-6, 6), dx=st.integers(-4, 4))
def test_heatmap_moves_with_an_integer_shift(data, radius, dy, dx):
    h, w = 64, 32
    m = radius + 6
    rcv = data.draw(int_poses((h - 2 * m, w - 2 * m)))  # keep disks off the border after shifting
    rcv[:, :2] += m * (rcv[:, 2:] > 0)
    shifted = rcv.copy()
    shifted[:, 0] += dy * (rcv[:, 2] > 0)
    shifted[:, 1] += dx * (rcv[:, 2] > 0)
    a, b = pose_heatmap(rcv, (h, w), radius), pose_heatmap(shifted, (h, w), radius)
    np.testing.assert_array_equal(np.roll(a, (dy, dx), axis=(1, 2)), b)


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), size=sizes, batch=st.integers(1, 4))
def test_normalize_round_trip_numpy_and_torch(data, size, batch):
    rcv = np.stack([data.draw(int_poses(size)) for _ in range(batch)])
    vec = normalize_rcv(rcv, size)
    assert vec.shape == (batch, 54)
    assert (vec[:, 0::3] >= -1).all() and (vec[:, 0::3] < 1).all()  # rows map into [-1, 1)
    np.testing.assert_allclose(denormalize_rcv(vec, size), rcv, atol=1e-4)
    tv = normalize_rcv(torch.from_numpy(rcv), size)
    np.testing.assert_allclose(tv.numpy(), vec, atol=1e-6)
    np.testing.assert_allclose(denormalize_rcv(tv, size).numpy(), rcv, atol=1e-4)


@settings(max_examples=40, **SETTINGS)
@given(data=st.data(), size=sizes)
def test_csv_lists_and_rcv_invert_each_other(data, size):
    rcv = data.draw(int_poses(size))
    ys, xs = rcv_to_csv(rcv)
    assert ((ys == -1) == (rcv[:, 2] == 0)).all() and ((xs == -1) == (rcv[:, 2] == 0)).all()
    np.testing.assert_array_equal(csv_to_rcv(ys, xs), rcv)
