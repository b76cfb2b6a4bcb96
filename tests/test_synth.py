"""SynthPerson: renderer geometry, determinism, ground-truth re-rendering, dataset files, CLI."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from dpiglib.data.annotations import read_annotation_csv, read_pairs_csv
from dpiglib.synth.renderer import (Appearance, Background, PoseParams, SynthPersonRenderer,
                                    encode_png, factors_from_row, sample_appearance,
                                    sample_background, sample_pose)
from dpiglib.synth.dataset import (COMPLETE_MARKER, SynthError, SynthGroundTruth, dataset_params,
                                   generate_synthperson, load_factors, rerender)

TINY = dict(identities=4, images_per_identity=4, test_identities=2, size=(64, 32), seed=3)


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "data"
    generate_synthperson(root, progress=False, **TINY)
    return root


def _appearance(**kw) -> Appearance:
    base = dict(skin=(200, 150, 110), hair=(30, 20, 10), hair_style="short", upper=(200, 30, 30),
                upper_pattern="solid", upper_pattern_color=(250, 250, 250),
                upper_pattern_scale=0.05, upper_sleeves="long", lower=(30, 30, 160),
                lower_pattern="solid", lower_pattern_color=(0, 0, 0), lower_pattern_scale=0.05,
                lower_kind="trousers", shoes=(20, 20, 20), height=1.0, width=1.0)
    base.update(kw)
    return Appearance(**base)


def _pose(**kw) -> PoseParams:
    angles = {f"{s}_{j}": 0.0 for s in "rl" for j in ("arm_abd", "arm_flex", "elbow_abd",
                                                     "elbow_flex", "leg_abd", "leg_flex", "knee")}
    base = dict(view="front", action="standing", yaw=0.0, walk_phase=0.0, center_x=0.5, top=0.05,
                scale=0.8, **angles)
    base.update(kw)
    return PoseParams(**base)


# --------------------------------------------------------------------------------------------
# Geometry, hand-computed (body units: neck 0.185, shoulders (±0.105, 0.195), ...)
# --------------------------------------------------------------------------------------------


def test_front_view_keypoints_hand_computed():
    # 128×64, scale 0.8, height 1 → P = 102.4 px; head top at row 6.4; centre col 32.
    res = SynthPersonRenderer((128, 64)).render(_appearance(), _pose(), Background(1, "plain"))
    rcv = res.rcv
    assert rcv.dtype == np.float32 and rcv.shape == (18, 3)
    assert tuple(rcv[1]) == (25, 32, 1)  # neck: 6.4 + 0.185·102.4 = 25.3
    assert tuple(rcv[2]) == (26, 21, 1)  # r_shoulder: col 32 − 0.105·102.4 = 21.2 (image left)
    assert tuple(rcv[5]) == (26, 43, 1)  # l_shoulder on the image's right
    assert tuple(rcv[4]) == (58, 21, 1)  # r_wrist, arm hanging: row 6.4 + 0.5·102.4 = 57.6
    assert tuple(rcv[10]) == (107, 26, 1)  # r_ankle: 6.4 + 0.985·102.4; col 32 − 6.35
    assert tuple(rcv[0]) == (15, 32, 1)  # nose
    assert tuple(rcv[14]) == (13, 30, 1)  # r_eye: col 32 − 0.4·0.058·102.4 = 29.6
    assert rcv[15, 1] == 34 and rcv[16, 1] < rcv[17, 1]  # l_eye, r_ear left of l_ear


def test_views_hide_face_points_and_mirror_sides():
    r = SynthPersonRenderer((128, 64))
    bg = Background(1, "plain")
    back = r.render(_appearance(), _pose(view="back", yaw=180.0), bg).rcv
    assert (back[[0, 14, 15]] == 0).all()  # nose, eyes hidden from behind
    assert back[16, 2] == 1 and back[17, 2] == 1  # ears still seen
    assert back[2, 1] == 43 and back[5, 1] == 21  # person's right now on the image's right
    left = r.render(_appearance(), _pose(view="left", yaw=90.0), bg).rcv
    assert (left[[14, 16]] == 0).all() and left[15, 2] == 1 and left[17, 2] == 1
    assert tuple(left[0]) == (15, 26, 1)  # nose 0.92·0.066·102.4 = 6.2 px toward image left
    right = r.render(_appearance(), _pose(view="right", yaw=-90.0), bg).rcv
    assert (right[[15, 17]] == 0).all() and right[14, 2] == 1 and right[0, 1] == 38


def test_out_of_frame_keypoints_are_missing():
    # scale 1.3: knees (row 6.4 + 0.76·166.4 = 133) and ankles fall below the 128-px frame.
    res = SynthPersonRenderer((128, 64)).render(_appearance(), _pose(scale=1.3),
                                                Background(2, "gradient"))
    assert (res.rcv[[9, 10, 12, 13]] == 0).all()
    assert (res.rcv[[1, 2, 5, 8, 11], 2] == 1).all()


@pytest.mark.parametrize("size", [(64, 32), (128, 64), (256, 256)])
def test_sizes_shapes_and_keypoints_on_the_body(size):
    style = "deepfashion" if size == (256, 256) else "market"
    r = SynthPersonRenderer(size, style)
    rng = np.random.default_rng(7)
    inside = total = 0
    for _ in range(40):
        res = r.render(*r.sample(rng))
        assert res.image.shape == (*size, 3) and res.image.dtype == np.uint8
        assert res.fg_mask.shape == size and set(np.unique(res.fg_mask)) <= {0, 1}
        assert 0.03 < res.fg_mask.mean() < 0.7
        vis = res.rcv[:, 2] > 0
        assert ((res.rcv[~vis]) == 0).all()
        rows, cols = res.rcv[vis, 0].astype(int), res.rcv[vis, 1].astype(int)
        assert (rows >= 0).all() and (rows < size[0]).all()
        assert (cols >= 0).all() and (cols < size[1]).all()
        assert (res.rcv[vis, :2] == np.round(res.rcv[vis, :2])).all()
        near = ndimage.binary_dilation(res.fg_mask.astype(bool))
        assert near[rows, cols].all()  # every keypoint on or next to the drawn person
        inside += int(res.fg_mask[rows, cols].sum())
        total += int(vis.sum())
    assert inside / total >= 0.99


def test_patterns_and_plain_background():
    r = SynthPersonRenderer((128, 64))
    bg = Background(5, "plain")
    solid = r.render(_appearance(), _pose(), bg)
    striped = r.render(_appearance(upper_pattern="stripes"), _pose(), bg)
    assert (solid.fg_mask == striped.fg_mask).all()
    diff = (solid.image != striped.image).any(-1)
    neck_row = int(solid.rcv[1, 0])
    rows = np.nonzero(diff)[0]
    assert diff.sum() > 100 and rows.min() >= neck_row - 3 and rows.max() < 70  # upper body only
    plain = np.asarray(solid.image)[solid.fg_mask == 0]
    assert plain.min() > 200  # plain backgrounds are light


# --------------------------------------------------------------------------------------------
# Determinism and ground truth
# --------------------------------------------------------------------------------------------


def test_render_is_a_pure_function_of_the_factors():
    r = SynthPersonRenderer((64, 32))
    f1 = r.sample(np.random.default_rng(11))
    f2 = r.sample(np.random.default_rng(11))
    assert f1 == f2
    a, b = r.render(*f1), SynthPersonRenderer((64, 32)).render(*f2)
    assert (a.image == b.image).all() and (a.rcv == b.rcv).all()
    assert (a.fg_mask == b.fg_mask).all()
    assert r.sample(np.random.default_rng(12)) != f1


def test_background_swap_keeps_foreground_pixels():
    r = SynthPersonRenderer((128, 64))
    app, pose, _ = r.sample(np.random.default_rng(3))
    a = r.render(app, pose, Background(1, "clutter"))
    b = r.render(app, pose, Background(2, "texture"))
    fg = a.fg_mask.astype(bool)
    assert (a.fg_mask == b.fg_mask).all() and (a.rcv == b.rcv).all()
    assert (a.image[fg] == b.image[fg]).all()
    assert (a.image[~fg] != b.image[~fg]).any(-1).mean() > 0.9


def test_foreground_swap_keeps_background_pixels():
    r = SynthPersonRenderer((128, 64))
    rng = np.random.default_rng(4)
    app1, app2 = sample_appearance(rng), sample_appearance(rng)
    pose, bg = sample_pose(rng), sample_background(rng)
    a, b = r.render(app1, pose, bg), r.render(app2, pose, bg)
    outside = (a.fg_mask == 0) & (b.fg_mask == 0)
    assert (a.image[outside] == b.image[outside]).all()
    assert (a.image[a.fg_mask.astype(bool)] != b.image[a.fg_mask.astype(bool)]).any()


def test_generation_is_byte_identical_for_a_seed(tmp_path, tiny_root):
    small = dict(TINY, identities=2, test_identities=1)
    generate_synthperson(tmp_path / "a", progress=False, **small)
    generate_synthperson(tmp_path / "b", progress=False, **small)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert len(files) == 3 * 4 * 2 + 7  # images + masks, 6 CSVs, marker
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    # Identity 1 looks the same in the larger dataset (per-identity seeds).
    name = "train/" + sorted(p.name for p in (tmp_path / "a" / "train").iterdir())[0]
    assert (tmp_path / "a" / name).read_bytes() == (tiny_root / name).read_bytes()
    generate_synthperson(tmp_path / "c", progress=False, **dict(small, seed=4))
    factors = [(tmp_path / d / "synth-factors-train.csv").read_text() for d in ("a", "c")]
    assert factors[0] != factors[1]
    imgs = [np.stack([_png(p) for p in sorted((tmp_path / d / "train").iterdir())])
            for d in ("a", "c")]
    assert (imgs[0] != imgs[1]).mean() > 0.5


def test_rerender_reproduces_written_images(tiny_root):
    gt = SynthGroundTruth(tiny_root, "test")
    ann = read_annotation_csv(tiny_root / "synth-annotation-test.csv", image_size=(64, 32))
    for name in list(gt.table.index)[:5]:
        res = gt.render(name)
        assert (res.image == _png(tiny_root / "test" / name)).all()
        assert (res.fg_mask * 255 == _png(tiny_root / "test_mask" / name)).all()
        assert (res.rcv == ann[name]).all()
    src, tgt = list(gt.table.index)[:2]
    transfer = rerender(tiny_root, "test", appearance_from=src, pose_from=tgt)
    app_s, _, bg_s = gt.factors(src)
    _, pose_t, _ = gt.factors(tgt)
    expected = gt.renderer.render(app_s, pose_t, bg_s)
    assert (transfer.image == expected.image).all()
    assert (transfer.rcv == ann[tgt]).all()  # target pose, identical keypoints
    with pytest.raises(KeyError, match="not in the test factors"):
        gt.render("nope.png")


# --------------------------------------------------------------------------------------------
# The dataset on disk
# --------------------------------------------------------------------------------------------


def test_dataset_files_agree(tiny_root):
    ids = {}
    for split in ("train", "test"):
        images = sorted(p.name for p in (tiny_root / split).iterdir())
        masks = sorted(p.name for p in (tiny_root / f"{split}_mask").iterdir())
        assert images == masks
        factors = load_factors(tiny_root, split)
        assert sorted(factors["name"]) == images  # one factors row per image
        assert (factors["split"] == split).all()
        ann = read_annotation_csv(tiny_root / f"synth-annotation-{split}.csv")
        ann_names = list(ann)
        assert sorted(ann_names) == images
        ids[split] = {n.split("_")[0] for n in images}
        for n in images:  # camera number = view
            cam = int(n.split("_")[1][1])
            assert ("front", "back", "left", "right")[cam - 1] == factors.loc[n, "pose_view"]
        # pairs: every ordered pair of distinct same-identity images with some keypoint
        valid = [n for n in ann_names if ann[n][:, 2].any()]
        expected = {(a, b) for a, b in itertools.permutations(valid, 2)
                    if a.split("_")[0] == b.split("_")[0]}
        pairs = read_pairs_csv(tiny_root / f"synth-pairs-{split}.csv")
        assert len(pairs) == len(set(pairs)) and set(pairs) == expected
        mask = _png(tiny_root / f"{split}_mask" / images[0])
        assert set(np.unique(mask)) <= {0, 255}
    assert ids["train"] == {"0001", "0002", "0003", "0004"} and ids["test"] == {"0005", "0006"}
    marker = json.loads((tiny_root / "synth-complete.json").read_text())
    assert marker["params"]["size"] == [64, 32] and marker["counts"]["train"]["images"] == 16


def test_missing_keypoints_are_minus_one_in_csv(tiny_root):
    text = (tiny_root / "synth-annotation-train.csv").read_text().splitlines()
    assert text[0] == "name:keypoints_y:keypoints_x"
    factors = load_factors(tiny_root, "train")
    gt = SynthGroundTruth(tiny_root, "train")
    seen_missing = 0
    for line in text[1:]:
        name, ys, xs = line.split(": ")
        ys, xs = json.loads(ys), json.loads(xs)
        rcv = gt.render(name).rcv
        for k in range(18):
            if rcv[k, 2] == 0:
                assert ys[k] == -1 and xs[k] == -1 and (rcv[k] == 0).all()
                seen_missing += 1
            else:
                assert (ys[k], xs[k]) == (int(rcv[k, 0]), int(rcv[k, 1]))
    assert seen_missing > 0 or (factors["pose_view"] == "front").all()


def test_person_dataset_loads_synth(tiny_root):
    data = pytest.importorskip("dpiglib.data.datasets")
    from dpiglib.config import get_preset

    ds = data.PersonDataset(tiny_root, "train", get_preset("synth-tiny").data, flip=False)
    assert len(ds) == 16
    item = ds[0]
    assert tuple(item["image"].shape) == (3, 64, 32)
    img = _png(tiny_root / "train" / item["name"]).astype(np.float32)
    np.testing.assert_allclose(item["image"].numpy(), (img.transpose(2, 0, 1) - 127.5) / 127.5,
                               atol=1e-6)


def test_factor_rows_round_trip(tiny_root):
    row = load_factors(tiny_root, "train").iloc[3]
    app, pose, bg = factors_from_row(row)
    assert Appearance.from_dict(app.to_dict()) == app
    assert PoseParams.from_dict(pose.to_dict()) == pose
    assert bg.to_dict() == {"bg_seed": int(row["bg_seed"]), "bg_kind": row["bg_kind"]}
    assert app.to_dict()["app_skin_r"] == int(row["app_skin_r"])
    with pytest.raises(ValueError, match="missing column 'pose_yaw'"):
        PoseParams.from_dict({k: v for k, v in pose.to_dict().items() if k != "pose_yaw"})
    with pytest.raises(ValueError, match="upper_pattern must be one of"):
        dataclasses.replace(app, upper_pattern="paisley")
    with pytest.raises(ValueError, match="kind must be one of"):
        Background(1, "sky")


def test_complete_marker_logic(tmp_path):
    root = tmp_path / "d"
    small = dict(TINY, identities=1, images_per_identity=2, test_identities=0)
    first = generate_synthperson(root, progress=False, **small)
    assert not first["reused"] and first["counts"]["test"]["images"] == 0
    png = root / "train" / sorted(p.name for p in (root / "train").iterdir())[0]
    mtime = png.stat().st_mtime_ns
    again = generate_synthperson(root, progress=False, **small)
    assert again["reused"] and again["counts"] == first["counts"]
    assert png.stat().st_mtime_ns == mtime  # nothing rewritten
    with pytest.raises(SynthError, match="images_per_identity=2 \\(requested 3\\)"):
        generate_synthperson(root, progress=False, **dict(small, images_per_identity=3))
    out = generate_synthperson(root, progress=False, overwrite=True,
                               **dict(small, images_per_identity=3))
    assert out["counts"]["train"]["images"] == 3 and len(list((root / "train").iterdir())) == 3
    # An interrupted run (no complete marker, started marker present) is regenerated.
    (root / "synth-complete.json").unlink()
    (root / "synth-incomplete.json").write_text("{}")
    (root / "train" / "junk.png").write_bytes(b"x")
    out = generate_synthperson(root, progress=False, **small)
    assert not out["reused"] and len(list((root / "train").iterdir())) == 2  # junk cleared
    assert not (root / "synth-incomplete.json").exists()
    # A folder with other content is refused.
    other = tmp_path / "other"
    (other / "train").mkdir(parents=True)
    with pytest.raises(SynthError, match="not an empty folder"):
        generate_synthperson(other, progress=False, **small)
    with pytest.raises(SynthError, match="identities must be an int >= 1"):
        generate_synthperson(tmp_path / "x", progress=False, **dict(small, identities=0))
    with pytest.raises(SynthError, match="size"):
        generate_synthperson(tmp_path / "x", progress=False, **dict(small, size=(8, 4)))


def test_encode_png_round_trips():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    assert (np.asarray(Image.open(io.BytesIO(encode_png(rgb)))) == rgb).all()
    assert (np.asarray(Image.open(io.BytesIO(encode_png(grey)))) == grey).all()
    with pytest.raises(ValueError, match="uint8"):
        encode_png(rgb.astype(np.float32))


def test_cli(tmp_path, capsys):
    from data_prep.synth import main

    out = tmp_path / "cli"
    argv = ["--out", str(out), "--size", "64x32", "--identities", "2", "--images-per-identity",
            "2", "--test-identities", "1", "--seed", "1", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "train: 4 images, 2 identities, 4 pairs" in text
    assert (out / "synth-annotation-test.csv").is_file()
    assert main(argv) == 0 and "already complete" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(argv[:-3] + ["--seed", "2"])
    assert e.value.code == 1 and "seed=1 (requested 2)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--out", str(out), "--size", "64by32", "--identities", "1",
              "--images-per-identity", "1"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["--out", str(out), "--identities", "0", "--images-per-identity", "1"])
    assert e.value.code == 1


def test_dataset_params_reads_the_marker_or_says_what_is_wrong(tiny_root, tmp_path):
    params = dataset_params(tiny_root)
    assert params["seed"] == TINY["seed"] and list(params["size"]) == list(TINY["size"])
    assert params["test_identities"] == TINY["test_identities"] and params["style"]
    with pytest.raises(SynthError, match="not a complete SynthPerson dataset"):
        dataset_params(tmp_path / "nothing")
    (tmp_path / COMPLETE_MARKER).write_text("{half a file")
    with pytest.raises(SynthError, match="unreadable") as exc:
        dataset_params(tmp_path)
    assert "\n" not in str(exc.value)
    with pytest.raises(SynthError, match="unreadable"):  # the ground truth reads it the same way
        SynthGroundTruth(tmp_path, "test")
