"""dpiglib.data.datasets / annotations / validate and the data_prep tools, on tiny datasets in tmp_path."""

from __future__ import annotations

import itertools
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from dpiglib.data import pose
from dpiglib.config import get_preset
from dpiglib.data.annotations import (DatasetError, build_pairs, find_dataset_files, identity_of,
                                      read_annotation_csv, read_pairs_csv, write_annotation_csv,
                                      write_pairs_csv)
from dpiglib.data.datasets import (PairDataset, PersonDataset, dataset_summary, make_loader,
                                   prepare_batch)
from dpiglib.data.validate import validate_dataset
from fixtures import (
    DF_IDS,
    DF_NAMES,
    REAL_HEADER,
    REAL_NAMES,
    REAL_ROWS,
    REAL_XS,
    REAL_YS,
    make_deepfashion,
    make_market,
    rcv_from_lists,
    write_image,
)

MARKET = get_preset("market").data
DF = get_preset("deepfashion").data


@pytest.fixture
def market(tmp_path):
    return make_market(tmp_path / "market")


# ------------------------------------------------------------------------------------------
# CSV format
# ------------------------------------------------------------------------------------------


def test_writer_is_byte_exact_with_released_rows(tmp_path):
    rcvs = [rcv_from_lists(y, x) for y, x in zip(REAL_YS, REAL_XS)]
    path = write_annotation_csv(tmp_path / "a.csv", REAL_NAMES, np.stack(rcvs))
    expected = (REAL_HEADER + "\n" + "\n".join(REAL_ROWS) + "\n").encode()
    assert path.read_bytes() == expected


def test_writer_truncates_floats_and_marks_invisible(tmp_path):
    rcv = np.zeros((18, 3), np.float32)
    rcv[0] = (10.9, 3.2, 1)
    rcv[1] = (50, 20, 0)  # invisible: written as -1 whatever its coordinates
    write_annotation_csv(tmp_path / "a.csv", ["x_1.png"], [rcv])
    line = (tmp_path / "a.csv").read_text().splitlines()[1]
    assert line.startswith("x_1.png: [10, -1, -1,") and ": [3, -1, -1," in line
    bad = rcv.copy()
    bad[2] = (-3, 4, 1)
    with pytest.raises(ValueError, match="keypoint 2"):
        write_annotation_csv(tmp_path / "b.csv", ["x_1.png"], [bad])
    with pytest.raises(ValueError, match="duplicate"):
        write_annotation_csv(tmp_path / "c.csv", ["a", "a"], [rcv, rcv])


def test_reader_parses_released_rows(tmp_path):
    p = tmp_path / "market-annotation-test.csv"
    p.write_text(REAL_HEADER + "\n" + "\n".join(REAL_ROWS) + "\n")
    ann = read_annotation_csv(p, image_size=(128, 64))
    assert list(ann) == list(REAL_NAMES)
    a, b = ann[REAL_NAMES[0]], ann[REAL_NAMES[1]]
    assert a.dtype == np.float32 and a.shape == (18, 3)
    np.testing.assert_array_equal(a[0], [0, 0, 0])  # -1 → (0, 0, 0)
    np.testing.assert_array_equal(a[1], [38, 0, 1])
    np.testing.assert_array_equal(a[13], [114, 27, 1])
    np.testing.assert_array_equal(b[0], [14, 38, 1])
    np.testing.assert_array_equal(b[7], [56, 63, 1])  # x = 63 = W - 1 is inside
    assert a[:, 2].sum() == 7 and b[:, 2].sum() == 17
    # Our files stay readable the way the Def-GAN/PATN tools read them.
    df = pd.read_csv(p, sep=":")
    assert list(df.columns) == ["name", "keypoints_y", "keypoints_x"]
    assert list(df["name"]) == list(REAL_NAMES)


def test_reader_tolerates_crlf_bom_spaces_and_blank_lines(tmp_path):
    p = tmp_path / "a.csv"
    row = "  " + REAL_ROWS[1].replace(": [", ":   [")
    text = "\ufeff" + REAL_HEADER + "\r\n" + row + "\r\n\r\n"
    p.write_bytes(text.encode("utf-8"))
    ann = read_annotation_csv(p)
    np.testing.assert_array_equal(ann[REAL_NAMES[1]][0], [14, 38, 1])


@pytest.mark.parametrize("content, line, match", [
    ("name,keypoints_y,keypoints_x\n", 1, "header"),
    ("name:keypoints_x:keypoints_y\n", 1, "header"),
    (REAL_HEADER + "\n" + REAL_ROWS[1] + "\n" + REAL_ROWS[0].replace(": [", ", [") + "\n",
     3, "3 ':'-separated fields"),
    (REAL_HEADER + "\n" + REAL_ROWS[1].replace("[14, ", "[") + "\n", 2, "17 values"),
    (REAL_HEADER + "\n" + REAL_ROWS[1].replace("[14, ", "[a, ") + "\n", 2, "not a list of numbers"),
    (REAL_HEADER + "\n" + REAL_ROWS[1].replace("[14, ", "[NaN, ") + "\n", 2, "NaN"),
    (REAL_HEADER + "\n" + REAL_ROWS[1].replace("]: [38", "] [38") + "\n", 2, "found 2"),
    (REAL_HEADER + "\n" + REAL_ROWS[1] + "\n\n" + REAL_ROWS[1] + "\n", 4, "duplicate .* line 2"),
    (REAL_HEADER + "\n" + REAL_ROWS[1].replace("[14, 24", "[140, 24") + "\n", 2, "outside"),
    (REAL_HEADER + "\n" + REAL_ROWS[1].replace("[14, 24", "[-5, 24") + "\n", 2, "outside"),
])
def test_malformed_annotation_rows_name_file_and_line(tmp_path, content, line, match):
    p = tmp_path / "market-annotation-train.csv"
    p.write_text(content)
    with pytest.raises(DatasetError, match=match) as info:
        read_annotation_csv(p, image_size=(128, 64))
    assert str(p) in str(info.value) and f"line {line}:" in str(info.value)
    assert info.value.line == line


def test_out_of_image_keypoints_can_be_clipped(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text(REAL_HEADER + "\n" + REAL_ROWS[1].replace("[14, 24", "[140, 24") + "\n")
    ann = read_annotation_csv(p, image_size=(128, 64), clip=True)
    np.testing.assert_array_equal(ann[REAL_NAMES[1]][0], [127, 38, 1])


def test_pairs_round_trip_and_errors(tmp_path):
    p = write_pairs_csv(tmp_path / "p.csv", [("a_1.jpg", "a_2.jpg"), ("a_2.jpg", "a_1.jpg")])
    assert p.read_bytes() == b"from,to\na_1.jpg,a_2.jpg\na_2.jpg,a_1.jpg\n"
    assert read_pairs_csv(p) == [("a_1.jpg", "a_2.jpg"), ("a_2.jpg", "a_1.jpg")]
    assert list(pd.read_csv(p).columns) == ["from", "to"]
    q = tmp_path / "q.csv"
    q.write_text(",from,to\n0,a_1.jpg,a_2.jpg\n")  # pandas index column: tolerated
    assert read_pairs_csv(q) == [("a_1.jpg", "a_2.jpg")]
    q.write_text("src,dst\na,b\n")
    with pytest.raises(DatasetError, match=r"line 1: expected columns 'from' and 'to'"):
        read_pairs_csv(q)
    q.write_text("from,to\na,b\na,\n")
    with pytest.raises(DatasetError, match=r"q.csv, line 3: empty image name"):
        read_pairs_csv(q)


def test_identity_parsing():
    assert identity_of("0161_c3s3_033053_04.jpg", "market") == "0161"
    assert identity_of("-1_c5s3_086412_11.jpg", "market") == "-1"
    assert identity_of("0000_c1s1_000003_00.jpg", "market") == "0000"
    assert identity_of("0042_s3_p1_b2.png", "synth") == "0042"
    assert identity_of("fashionWOMENDressesid0000262902_3back.jpg", "deepfashion") == "id00002629"
    assert identity_of("fashionMENDenimid0000008001_1front.jpg", "fasion") == "id00000080"
    # A category with '_' is why split('_')[0] is wrong for DeepFashion.
    assert [identity_of(n, "deepfashion") for n in DF_NAMES] == DF_IDS
    with pytest.raises(ValueError, match="8 digits"):
        identity_of("fashionWOMENDresses_front.jpg", "deepfashion")


# ------------------------------------------------------------------------------------------
# Discovery
# ------------------------------------------------------------------------------------------


def test_find_dataset_files(tmp_path, market):
    f = find_dataset_files(market["root"], "train")
    assert (f.prefix, f.dataset, f.image_dir.name) == ("market", "market", "train")
    assert f.pairs.name == "market-pairs-train.csv"
    for spelling in ("fasion", "fashion"):
        d = make_deepfashion(tmp_path / spelling, spelling=spelling)
        g = find_dataset_files(d["root"], "train")
        assert g.prefix == spelling and g.dataset == "deepfashion"
        assert g.pairs.name == f"{spelling}-resize-pairs-train.csv"
    # PATN's own download names the DeepFashion annotation fasion-resize-annotation-*.csv.
    (d["root"] / "fashion-annotation-train.csv").rename(
        d["root"] / "fashion-resize-annotation-train.csv")
    assert find_dataset_files(d["root"], "train").annotation.name == \
        "fashion-resize-annotation-train.csv"
    with pytest.raises(DatasetError, match="does not exist"):
        find_dataset_files(tmp_path / "nowhere", "train")
    with pytest.raises(DatasetError, match="market-annotation-val.csv, fasion-annotation-val"):
        find_dataset_files(market["root"], "val")
    with pytest.raises(DatasetError, match="synth-annotation-train.csv"):
        find_dataset_files(market["root"], "train", dataset="synth")
    (market["root"] / "train").rename(market["root"] / "bounding_box_train")
    with pytest.raises(DatasetError, match="rename bounding_box_train to train"):
        find_dataset_files(market["root"], "train")


# ------------------------------------------------------------------------------------------
# PersonDataset
# ------------------------------------------------------------------------------------------


def test_person_dataset_items(market):
    ds = PersonDataset(market["root"], "train", MARKET, flip=False)
    assert len(ds) == 7 and ds.num_all_missing == 1  # the all-missing row is counted, left out
    assert "0011_c5s1_000176_04.jpg" not in ds.names
    assert ds.identities == ["0002", "0007", "0011"]
    item = ds[3]
    assert item["name"] == "0007_c1s6_028546_01.jpg" and item["identity"] == 1
    assert item["index"] == 3
    assert item["image"].shape == (3, 128, 64) and item["image"].dtype == torch.float32
    with Image.open(market["root"] / "train" / item["name"]) as im:
        pixels = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).float()
    torch.testing.assert_close(item["image"], (pixels - 127.5) / 127.5)
    np.testing.assert_array_equal(item["rcv"].numpy(), market["train_rcv"][3])
    boxes, vis = pose.part_boxes(market["train_rcv"][3], (128, 64), "market")
    assert item["boxes"].dtype == torch.int64 and item["box_vis"].shape == (7,)
    np.testing.assert_array_equal(item["boxes"].numpy(), boxes)
    np.testing.assert_array_equal(item["box_vis"].numpy(), vis)
    assert "heatmap" not in item
    with_all = PersonDataset(market["root"], "train", MARKET, include_all_missing=True)
    assert len(with_all) == 8 and with_all[7]["box_vis"].sum() == 0


def test_return_maps_match_pose_functions(market):
    ds = PersonDataset(market["root"], "train", MARKET, return_maps=True, flip=False)
    item = ds[0]
    rcv = market["train_rcv"][0]
    np.testing.assert_array_equal(item["heatmap"].numpy(), pose.pose_heatmap(rcv, (128, 64), 4))
    assert item["mask"].shape == (1, 128, 64) and item["mask"].dtype == torch.float32
    np.testing.assert_array_equal(item["mask"][0].numpy(), pose.pose_mask(rcv, (128, 64), 7))


def test_missing_images_reported_at_construction(market):
    (market["root"] / "train" / "0007_c2s3_070952_01.jpg").unlink()
    with pytest.raises(DatasetError, match="1 annotated image.*0007_c2s3_070952_01.jpg"):
        PersonDataset(market["root"], "train", MARKET)


def test_wrong_size_and_unreadable_images_name_the_file(market):
    rng = np.random.default_rng(0)
    d = market["root"] / "train"
    write_image(d / "0002_c1s1_000451_03.jpg", (120, 64), rng)
    ds = PersonDataset(market["root"], "train", MARKET, flip=False)
    with pytest.raises(DatasetError, match=r"0002_c1s1_000451_03.jpg: image is 120x64 .*128x64"):
        ds[0]
    (d / "0002_c2s1_000301_01.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="0002_c2s1_000301_01.jpg: cannot read image"):
        ds[1]
    data = (d / "0002_c6s1_000526_02.jpg").read_bytes()
    (d / "0002_c6s1_000526_02.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="0002_c6s1_000526_02.jpg: cannot read image"):
        ds[2]


def test_grayscale_and_rgba_are_converted(market):
    rng = np.random.default_rng(0)
    d = market["root"] / "train"
    write_image(d / "0007_c1s6_028546_01.jpg", (128, 64), rng, mode="L")
    ds = PersonDataset(market["root"], "train", MARKET, flip=False)
    img = ds[3]["image"]
    assert img.shape == (3, 128, 64)
    torch.testing.assert_close(img[0], img[1])


def test_deepfashion_pad_shifts_keypoints_by_40(tmp_path):
    d = make_deepfashion(tmp_path / "df")
    ds = PersonDataset(d["root"], "train", DF, flip=False)
    assert ds.source_size == (256, 176) and len(ds) == 6
    assert ds.identities == ["id00000080", "id00002629", "id00006370"]
    item = ds[0]
    assert item["image"].shape == (3, 256, 256)
    raw = d["rcvs"][0]
    vis = raw[:, 2] > 0
    np.testing.assert_array_equal(item["rcv"][vis, 1].numpy(), raw[vis, 1] + 40)
    np.testing.assert_array_equal(item["rcv"][vis, 0].numpy(), raw[vis, 0])
    np.testing.assert_array_equal(item["rcv"][~vis].numpy(), 0)
    assert (item["image"][:, :, :40] == 1).all() and (item["image"][:, :, 216:] == 1).all()
    with Image.open(d["root"] / "train" / DF_NAMES[0]) as im:
        pixels = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).float()
    torch.testing.assert_close(item["image"][:, :, 40:216], (pixels - 127.5) / 127.5)
    # "resize": pixel centres map as (c + 0.5) · 256/176 − 0.5.
    rs = PersonDataset(d["root"], "train", replace(DF, deepfashion_fit="resize"), flip=False)
    np.testing.assert_allclose(rs[0]["rcv"][vis, 1].numpy(),
                               (raw[vis, 1] + 0.5) * 256 / 176 - 0.5, rtol=1e-6)
    assert rs[0]["image"].shape == (3, 256, 256)


def test_deepfashion_out_of_crop_keypoint_is_an_error(tmp_path):
    d = make_deepfashion(tmp_path / "df")
    rcvs = [r.copy() for r in d["rcvs"]]
    rcvs[1][2] = (10, 200, 1)  # x = 200 > 175 in a 176-wide crop
    write_annotation_csv(d["root"] / "fasion-annotation-train.csv", d["names"], rcvs)
    with pytest.raises(DatasetError, match=r"fasion-annotation-train.csv, line 3: .*outside the "
                                           r"256x176 image"):
        PersonDataset(d["root"], "train", DF)


def test_flip_maps_keypoint_pixels_consistently(market):
    ds = PersonDataset(market["root"], "train", MARKET)
    for i in range(3):
        a, b = ds.load(i, flip=False), ds.load(i, flip=True)
        torch.testing.assert_close(b["image"], a["image"].flip(2))
        for k in range(18):
            j = pose.FLIP_PERMUTATION[k]
            assert b["rcv"][k, 2] == a["rcv"][j, 2]
            if a["rcv"][j, 2]:
                r, c = int(a["rcv"][j, 0]), int(a["rcv"][j, 1])
                rf, cf = int(b["rcv"][k, 0]), int(b["rcv"][k, 1])
                assert (rf, cf) == (r, 63 - c)
                torch.testing.assert_close(b["image"][:, rf, cf], a["image"][:, r, c])
        boxes, _ = pose.part_boxes(b["rcv"].numpy(), (128, 64), "market")
        np.testing.assert_array_equal(b["boxes"].numpy(), boxes)


def test_flip_is_random_but_seeded(market):
    ds = PersonDataset(market["root"], "train", MARKET)
    assert ds.flip and not PersonDataset(market["root"], "test", MARKET).flip

    def flips():
        return [bool((ds[i]["image"] != ds.load(i)["image"]).any()) for i in range(len(ds))
                for _ in range(3)]

    torch.manual_seed(0)
    first = flips()
    torch.manual_seed(0)
    assert flips() == first and 0 < sum(first) < len(first)


# ------------------------------------------------------------------------------------------
# Pairs, batches, loaders
# ------------------------------------------------------------------------------------------


def test_pair_dataset(market):
    pd_ = PairDataset(market["root"], "test", MARKET)
    assert len(pd_) == 2 and len(pd_.images) == 4
    item = pd_[1]
    assert item["source"]["name"] == "0228_c6s3_006817_02.jpg"
    assert item["target"]["name"] == "0228_c6s1_052601_01.jpg"
    assert item["source"]["image"].shape == (3, 128, 64)


def test_pairs_naming_unannotated_or_all_missing_images_fail(market):
    p = market["root"] / "market-pairs-test.csv"
    p.write_text("from,to\n0228_c6s3_006817_02.jpg,0228_c6s1_052601_01.jpg\n"
                 "0161_c1s1_000001_01.jpg,0161_c9s9_999999_99.jpg\n")
    with pytest.raises(DatasetError, match=r"market-pairs-test.csv, line 3: image "
                                           r"'0161_c9s9_999999_99.jpg' has no row"):
        PairDataset(market["root"], "test", MARKET)
    p.write_text("from,to\n0230_c1s1_000004_01.jpg,0228_c6s1_052601_01.jpg\n")
    with pytest.raises(DatasetError, match=r"line 2: .*0230_c1s1_000004_01.jpg.*all-missing"):
        PairDataset(market["root"], "test", MARKET)


def test_prepare_batch(market):
    ds = PersonDataset(market["root"], "train", MARKET, flip=False)
    batch = next(iter(make_loader(ds, batch_size=3, shuffle=False)))
    out = prepare_batch(batch, MARKET, "cpu")
    assert out["heatmap"].shape == (3, 18, 128, 64) and out["heatmap"].dtype == torch.float32
    assert out["mask"].shape == (3, 1, 128, 64) and out["mask"].dtype == torch.float32
    assert set(out["heatmap"].unique().tolist()) == {-1.0, 1.0}
    assert set(out["mask"].unique().tolist()) == {0.0, 1.0}
    assert out["name"] == batch["name"]
    for b in range(3):
        rcv = market["train_rcv"][b]
        np.testing.assert_array_equal(out["heatmap"][b].numpy(),
                                      pose.pose_heatmap(rcv, (128, 64), 4))
        np.testing.assert_array_equal(out["mask"][b, 0].numpy(),
                                      pose.pose_mask(rcv, (128, 64), 7))
    pairs = next(iter(make_loader(PairDataset(market["root"], "test", MARKET), 2, shuffle=False)))
    pout = prepare_batch(pairs, MARKET, torch.device("cpu"))
    assert pout["source"]["mask"].shape == (2, 1, 128, 64)
    assert pout["target"]["heatmap"].shape == (2, 18, 128, 64)


def test_loader_order_is_seeded(market):
    ds = PersonDataset(market["root"], "train", MARKET, flip=False)

    def order(seed):
        return [n for b in make_loader(ds, 2, shuffle=True, seed=seed) for n in b["name"]]

    assert order(3) == order(3)
    assert sorted(order(3)) == sorted(ds.names)
    assert any(order(s) != order(3) for s in (4, 5, 6))
    assert len(list(make_loader(ds, 2, drop_last=True))) == 3


def test_worker_flips_follow_the_loader_seed(market):
    ds = PersonDataset(market["root"], "train", MARKET)  # flip on (train split)

    def images(seed):
        loader = make_loader(ds, 7, shuffle=False, seed=seed, num_workers=2)
        return torch.cat([b["image"] for b in loader])

    torch.testing.assert_close(images(1), images(1))
    flipped = [not torch.equal(img, ds.load(i)["image"]) for i, img in enumerate(images(1))]
    assert 0 < sum(flipped) < len(ds)  # a fixed draw for seed 1: some flipped, some not


def test_build_pairs_rules(market):
    names, rcvs = market["test"], market["test_rcv"]
    # dpig: Σ n(n−1) over identities, all-missing rows excluded (0230 has one, all-missing, image).
    dp = build_pairs(names, rcvs, "dpig", "market")
    # identities: -1 (1), 0161 (3), 0000 (1), 0228 (2); 0230's only row is all-missing
    assert len(dp) == 3 * 2 + 2 * 1
    assert "0230_c1s1_000004_01.jpg" not in {n for p in dp for n in p}
    assert dp[:2] == [("0161_c3s3_033053_04.jpg", "0161_c1s1_000001_01.jpg"),
                      ("0161_c3s3_033053_04.jpg", "0161_c5s1_000002_02.jpg")]
    train = build_pairs(market["train"], market["train_rcv"], "dpig", "market")
    assert train == market["train_pairs"] and len(train) == 3 * 2 + 2 * 1 + 2 * 1
    # defgan: drops -1_ and 0000_ and 0228_c6s1_052601_01 (no left hip): 0161 ×3 remain.
    dg = build_pairs(names, rcvs, "defgan", "market")
    used = {n for p in dg for n in p}
    assert len(dg) == 6 and all(n.startswith("0161") for n in used)
    assert dg == list(itertools.permutations(
        ["0161_c3s3_033053_04.jpg", "0161_c1s1_000001_01.jpg", "0161_c5s1_000002_02.jpg"], 2))
    sub = build_pairs(names, rcvs, "defgan", "market", max_pairs=4, seed=0)
    ref = pd.DataFrame(dg, columns=["from", "to"]).sample(n=4, random_state=0)
    assert sub == list(zip(ref["from"], ref["to"]))
    with pytest.raises(ValueError, match="unknown pair rule"):
        build_pairs(names, rcvs, "random", "market")


def test_build_pairs_deepfashion_identities(tmp_path):
    d = make_deepfashion(tmp_path / "df")
    assert sorted(build_pairs(d["names"], d["rcvs"], "dpig", "deepfashion")) == sorted(d["pairs"])


def test_dataset_summary(market):
    s = dataset_summary(market["root"], "test")
    assert (s["images"], s["annotated"], s["all_missing"], s["identities"], s["pairs"]) == \
        (8, 8, 1, 5, 2)
    assert s["per_identity"].iloc[0].tolist() == ["0161", 3]
    ann = read_annotation_csv(market["root"] / "market-annotation-test.csv")
    nose = np.mean([r[0, 2] > 0 for r in ann.values()])
    assert s["visibility"].loc["nose", "visible"] == pytest.approx(nose)


# ------------------------------------------------------------------------------------------
# Validation, manifest, command-line tools
# ------------------------------------------------------------------------------------------


def test_validate_clean_roots(market, tmp_path):
    assert validate_dataset(market["root"], MARKET).ok
    d = make_deepfashion(tmp_path / "df", split="train")
    rep = validate_dataset(d["root"], DF, splits=("train",))
    assert rep.ok and "fitted_size" in {w.kind for w in rep.warnings}
    assert not validate_dataset(d["root"], (256, 256), splits=("train",)).ok  # bare size: exact


def test_validate_catches_each_problem(market):
    root = market["root"]
    rng = np.random.default_rng(1)
    (root / "train" / "0002_c1s1_000451_03.jpg").unlink()  # missing image
    (root / "train" / "0002_c2s1_000301_01.jpg").write_bytes(b"\xff\xd8junk")  # unreadable
    write_image(root / "train" / "0007_c1s6_028546_01.jpg", (64, 64), rng)  # wrong size
    ann = root / "market-annotation-train.csv"
    lines = ann.read_text().splitlines()
    lines.append(lines[5])  # duplicate name
    lines.append("0099_c1s1_000001_01.jpg, [1, 2]")  # malformed row
    ann.write_text("\n".join(lines) + "\n")
    test_ann = root / "market-annotation-test.csv"
    test_ann.write_text(test_ann.read_text().replace("[14, 24", "[140, 24"))  # y = 140 > 127
    (root / "market-pairs-test.csv").write_text(
        "from,to\n0161_c3s3_033053_04.jpg,nobody.jpg\n0230_c1s1_000004_01.jpg,"
        "0161_c3s3_033053_04.jpg\n")
    rep = validate_dataset(root, MARKET)
    assert not rep.ok
    assert rep.kinds() == {"missing_image", "unreadable_image", "wrong_size", "duplicate_name",
                           "malformed_row", "out_of_bounds", "pair_unknown_name",
                           "pair_all_missing"}
    assert rep.stats["test"]["all_missing"] == 1 and rep.stats["train"]["all_missing"] == 1
    msgs = "\n".join(map(str, rep.errors))
    assert "market-annotation-train.csv, line 10: '0007_c2s3_070952_01.jpg' already on line 6" \
        in msgs
    assert "market-pairs-test.csv, line 2: 'nobody.jpg'" in msgs
    assert "market-annotation-test.csv, line 3: a keypoint of '0161_c3s3_033053_04.jpg'" in msgs
    frame = rep.to_frame()
    assert set(frame.columns) == {"level", "split", "kind", "message"}
    assert (frame["level"] == "error").sum() == len(rep.errors)
    shutil_root = root / "test"
    for f in shutil_root.iterdir():
        f.unlink()
    shutil_root.rmdir()
    assert "missing_file" in validate_dataset(root, MARKET).kinds()


def test_manifest_create_and_check(market):
    from data_prep.manifest import check_manifest, create_manifest, main

    root = market["root"]
    man = create_manifest(root)
    first = man.read_text().splitlines()[0]
    assert len(first.split("  ")[0]) == 64 and first.endswith("market-annotation-test.csv")
    assert check_manifest(root).ok
    target = root / "train" / "0007_c1s6_028546_01.jpg"
    data = bytearray(target.read_bytes())
    data[-10] ^= 1
    target.write_bytes(bytes(data))
    (root / "test" / "0000_c1s1_000003_00.jpg").unlink()
    (root / "extra.txt").write_text("x")
    res = check_manifest(root)
    assert res.mismatched == ["train/0007_c1s6_028546_01.jpg"]
    assert res.missing == ["test/0000_c1s1_000003_00.jpg"]
    assert res.extra == ["extra.txt"] and not res.ok
    assert main(["check", str(root)]) == 1


def test_make_pairs_cli(market, capsys):
    from data_prep.make_pairs import main

    root = market["root"]
    out = root / "dg.csv"
    assert main([str(root), "--split", "test", "--rule", "defgan", "--out", str(out)]) == 0
    assert "wrote 6 pairs" in capsys.readouterr().out
    assert len(read_pairs_csv(out)) == 6
    with pytest.raises(SystemExit) as e:  # refuses to overwrite
        main([str(root), "--split", "test", "--out", str(out)])
    assert e.value.code == 1 and "--force" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([str(root / "nope"), "--split", "test"])
    err = capsys.readouterr().err
    assert e.value.code == 1 and err.startswith("error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main([str(root), "--max-pairs", "-3"])
    assert e.value.code == 1


def test_validate_cli(market, capsys):
    from data_prep.validate import main

    assert main([str(market["root"])]) == 0
    assert "OK" in capsys.readouterr().out
    (market["root"] / "test" / REAL_NAMES[1]).unlink()
    assert main([str(market["root"]), "--no-images"]) == 1
    assert "missing_image" in capsys.readouterr().out


def test_data_prep_tools_list_and_help():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "data_prep"], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    assert all(t in out for t in ("make_pairs", "validate", "manifest"))
    helped = subprocess.run([sys.executable, "-m", "data_prep.manifest", "--help"], cwd=root,
                            capture_output=True, text=True)
    assert helped.returncode == 0 and "create" in helped.stdout


def test_spread_indices_cover_the_split_evenly():
    from dpiglib.data.datasets import spread_indices

    assert spread_indices(96, 4).tolist() == [0, 32, 63, 95]  # first and last included
    assert spread_indices(3, 8).tolist() == [0, 1, 2]  # never more than there are
    assert spread_indices(10, 1).tolist() == [0]
