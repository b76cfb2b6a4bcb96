"""Tests for dpiglib.metrics: every SSIM preset against skimage, hand-computed pins of each knob,
IS/FID closed forms, name-matched pairing, honest "unavailable" results and metrics.json."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PIL import Image
from scipy import linalg
from scipy.stats import entropy
from skimage.color import rgb2gray as sk_rgb2gray
from skimage.metrics import structural_similarity as sk_ssim

from dpiglib.metrics.protocols import PROTOCOLS, compute_metrics
from dpiglib.metrics.io import MissingImageError, UnreadableImageError
from dpiglib.metrics.fid import frechet_distance
from dpiglib.metrics.inception_score import inception_score
from dpiglib.metrics.folder import score_folder
from dpiglib.metrics.ssim import ssim
from dpiglib.metrics.fid import (FeatureExtractor, feature_stats, fid_from_stats, fid_stats,
                                 tf_inception_extractor)
from dpiglib.metrics.io import default_name_fn, load_pair_images
from dpiglib.metrics.masks import apply_mask, patn_pose_mask, white_pad
from dpiglib.metrics.pose_accuracy import pckh, pckh_patn
from dpiglib.metrics.ssim import rgb2gray, ssim_variant
from dpiglib.metrics.weights import find_user_weights, sha256_file


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    # no user weights and no shared cache leak into tests
    monkeypatch.setenv("DPIGLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("DPIGLIB_WEIGHTS", raising=False)


def _rand(seed, shape=(64, 48, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _noisy(img, seed, scale=40):
    noise = np.random.default_rng(seed).normal(0, scale, img.shape)
    return np.clip(img.astype(float) + noise, 0, 255).astype(np.uint8)


def _pose():
    """A plausible standing pose in a 64×48 image (rcv)."""
    kp = np.zeros((18, 3), np.float32)
    pts = {0: (8, 24), 1: (14, 24), 2: (15, 16), 3: (24, 14), 5: (15, 32), 6: (24, 34),
           8: (34, 19), 9: (46, 19), 11: (34, 29), 12: (46, 29), 14: (7, 22), 15: (7, 26)}
    for j, (r, c) in pts.items():
        kp[j] = (r, c, 1)
    return kp


# --------------------------------------------------------------------------------------------
# SSIM: equal to skimage with the same settings, and each knob pinned
# --------------------------------------------------------------------------------------------


def test_rgb2gray_matches_skimage():
    img = _rand(0)
    np.testing.assert_allclose(rgb2gray(img), sk_rgb2gray(img), atol=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_each_ssim_preset_equals_skimage(seed):
    g = _rand(seed, (64, 56, 3))
    t = _noisy(g, seed + 10)
    gg, tg = sk_rgb2gray(g), sk_rgb2gray(t)
    expected = {
        "dpig": sk_ssim(gg, tg, data_range=tg.max() - tg.min()),
        "dpig_mask": sk_ssim(g, t, channel_axis=2),  # uint8 → data_range 255, 7×7 uniform
        "patn": sk_ssim(t, g, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                        channel_axis=2, data_range=float(g.max()) - float(g.min())),
        "gfla": sk_ssim(t / 255.0, g / 255.0, data_range=1, win_size=51, channel_axis=2),
        "gfla_256": sk_ssim(t, g, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                            channel_axis=2, data_range=float(g.max()) - float(g.min())),
        "clean": sk_ssim(t, g, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                         channel_axis=2, data_range=255),
    }
    for name, want in expected.items():
        got, _ = ssim_variant(name, g, t)
        assert got == pytest.approx(want, abs=1e-9), name
        assert 0.0 < got < 0.999, name  # a real, non-trivial comparison


def test_generic_ssim_matches_skimage_on_floats():
    rng = np.random.default_rng(3)
    x, y = rng.random((40, 33)), rng.random((40, 33))
    for kw, skw in [({}, {}), (dict(win_size=9), dict(win_size=9)),
                    (dict(gaussian=True, sigma=1.2, sample_covariance=False),
                     dict(gaussian_weights=True, sigma=1.2, use_sample_covariance=False))]:
        assert ssim(x, y, data_range=1.0, **kw) == pytest.approx(sk_ssim(x, y, data_range=1.0, **skw), abs=1e-10)


def test_ssim_of_identical_images_is_one_for_every_preset():
    g = _rand(4)
    for name in ("dpig", "dpig_mask", "patn", "gfla_256", "clean"):
        assert ssim_variant(name, g, g.copy())[0] == pytest.approx(1.0, abs=1e-12)
    big = _rand(5, (64, 64, 3))
    assert ssim_variant("gfla", big, big.copy())[0] == pytest.approx(1.0, abs=1e-12)


def test_ssim_constant_images_hand_computed():
    # flat images: σ terms give C2/C2 = 1, so SSIM = (2ab + C1) / (a² + b² + C1), C1 = (0.01 L)²
    a, b = np.full((20, 20, 3), 100, np.uint8), np.full((20, 20, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    want = (2 * 100 * 150 + c1) / (100 ** 2 + 150 ** 2 + c1)
    assert ssim_variant("dpig_mask", a, b)[0] == pytest.approx(want, rel=1e-12)
    assert ssim_variant("clean", a, b)[0] == pytest.approx(want, rel=1e-12)


def test_dpig_gray_ssim_uses_the_target_range_and_patn_the_generated_range():
    rng = np.random.default_rng(6)
    g = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)  # full range
    t = (100 + rng.integers(0, 40, (48, 40, 3))).astype(np.uint8)  # narrow range
    gg, tg = rgb2gray(g), rgb2gray(t)
    with_target = ssim(gg, tg, data_range=tg.max() - tg.min())
    with_gen = ssim(gg, tg, data_range=gg.max() - gg.min())
    assert abs(with_target - with_gen) > 1e-3  # the knob matters here
    assert ssim_variant("dpig", g, t)[0] == pytest.approx(with_target, abs=1e-12)
    # PATN takes the range from the *generated* image: swapping roles changes the number
    p_gt = ssim_variant("patn", g, t)[0]
    p_tg = ssim_variant("patn", t, g)[0]
    assert abs(p_gt - p_tg) > 1e-3
    assert p_gt == pytest.approx(ssim(g, t, data_range=float(g.max()) - float(g.min()),
                                      gaussian=True, sample_covariance=False), abs=1e-12)


def test_gfla_window_51_is_pinned():
    g, t = _rand(7, (60, 60, 3)), _rand(8, (60, 60, 3))
    v51 = ssim_variant("gfla", g, t)[0]
    assert v51 == pytest.approx(sk_ssim(g / 255.0, t / 255.0, data_range=1, win_size=51,
                                        channel_axis=2), abs=1e-12)
    assert v51 != pytest.approx(sk_ssim(g / 255.0, t / 255.0, data_range=1, channel_axis=2), abs=1e-4)
    with pytest.raises(ValueError, match="51"):
        ssim_variant("gfla", _rand(9, (64, 32, 3)), _rand(10, (64, 32, 3)))


def test_ssim_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        ssim(np.zeros((10, 10)), np.zeros((10, 11)), data_range=1)
    with pytest.raises(ValueError, match="uint8"):
        ssim_variant("clean", np.zeros((10, 10, 3)), np.zeros((10, 10, 3)))
    with pytest.raises(ValueError, match="unknown SSIM variant"):
        ssim_variant("nope", _rand(0), _rand(0))


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


def test_patn_mask_single_joint_is_a_radius_4_disk():
    kp = np.zeros((18, 3))
    kp[4] = (20, 16, 1)  # a wrist without its elbow: no limb, only the joint disk
    m = patn_pose_mask(kp, (40, 32))
    ii, jj = np.mgrid[:40, :32]
    np.testing.assert_array_equal(m, (ii - 20) ** 2 + (jj - 16) ** 2 < 16)  # 45 pixels
    assert m.sum() == 45


def test_patn_mask_limb_polygon_half_width_4():
    kp = np.zeros((18, 3))
    kp[0], kp[1] = (10, 16, 1), (30, 16, 1)  # nose–neck limb [2, 1] (1-based)
    m = patn_pose_mask(kp, (48, 32))
    np.testing.assert_array_equal(np.flatnonzero(m[20]), np.arange(12, 21))  # 16 ± 4
    assert m[7, 16] and not m[6, 16]  # nose disk r=4 (strict): 3 px above in, 4 px out
    assert m[33, 16] and not m[34, 16]


def test_dpig_source_mask_and_patn_mask_differ():
    from dpiglib.metrics.masks import dpig_source_mask

    kp = _pose()
    dm = dpig_source_mask(kp, (64, 48), 7)
    pm = patn_pose_mask(kp, (64, 48))
    assert dm.shape == pm.shape == (64, 48) and dm.dtype == bool
    assert dm.sum() > pm.sum() > 0  # radius 7 disks vs radius-4 polygons


def test_apply_mask_and_white_pad():
    img = _rand(11)
    m = np.zeros(img.shape[:2], np.uint8)
    m[10:20, 5:15] = 1
    out = apply_mask(img, m)
    assert out.dtype == np.uint8 and out[0, 0].sum() == 0
    np.testing.assert_array_equal(out[10:20, 5:15], img[10:20, 5:15])
    crop = _rand(12, (256, 176, 3))
    padded = white_pad(crop)
    assert padded.shape == (256, 256, 3)
    assert (padded[:, :40] == 255).all() and (padded[:, 216:] == 255).all()
    np.testing.assert_array_equal(padded[:, 40:216], crop)


# --------------------------------------------------------------------------------------------
# Inception Score and FID: closed forms
# --------------------------------------------------------------------------------------------


def test_inception_score_closed_forms():
    rng = np.random.default_rng(13)
    row = rng.dirichlet(np.ones(7))
    mean, std = inception_score(np.tile(row, (50, 1)), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    k = 5
    onehot = np.eye(k)[np.tile(np.arange(k), 20)]  # 100 images, 10 splits of 10: 2 per class
    mean, std = inception_score(onehot, splits=10)
    assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_matches_direct_kl():
    p = np.random.default_rng(14).dirichlet(np.ones(6) * 0.3, size=40)
    want = np.exp(np.mean([entropy(pi, p.mean(0)) for pi in p]))
    assert inception_score(p, splits=1)[0] == pytest.approx(want, rel=1e-10)
    with pytest.raises(ValueError, match="splits"):
        inception_score(p[:3], splits=10)


def test_fid_identical_is_zero_and_matches_direct_scipy():
    rng = np.random.default_rng(15)
    x = rng.normal(size=(200, 8))
    mu, sig = feature_stats(x)
    assert abs(frechet_distance(mu, sig, mu, sig)) < 1e-6
    y = rng.normal(0.5, 1.5, size=(300, 8)) @ rng.normal(size=(8, 8))
    mu2, sig2 = feature_stats(y)
    direct = (np.sum((mu - mu2) ** 2) + np.trace(sig) + np.trace(sig2)
              - 2 * np.trace(linalg.sqrtm(sig @ sig2).real))
    assert frechet_distance(mu, sig, mu2, sig2) == pytest.approx(direct, rel=1e-10)
    # diagonal covariances: FID = |Δμ|² + Σ(√a − √b)²
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    want = 3.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(3), np.diag(a), np.ones(3), np.diag(b)) == pytest.approx(want)


def test_low_rank_fid_equals_scipy_sqrtm():
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(12, 40)), rng.normal(0.3, 2.0, size=(25, 40))
    s1 = dict(zip(("mu", "sigma"), feature_stats(x)), feats=x)
    s2 = dict(zip(("mu", "sigma"), feature_stats(y)), feats=None)
    value, method = fid_from_stats(s1, s2)
    assert method == "low-rank eigenvalues"
    assert value == pytest.approx(frechet_distance(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"]), rel=1e-6)
    assert abs(fid_from_stats(s1, dict(s1))[0]) < 1e-6  # round-off on traces of ~80


class _CountingExtractor(FeatureExtractor):
    def __init__(self):
        self.calls = 0

        def fn(images):
            self.calls += 1
            return np.stack([np.concatenate([im.mean((0, 1)), im.std((0, 1))]) for im in images])

        super().__init__("test-mean-std", fn, {"weights_sha256": "none", "resize": "none"})


def test_fid_stats_cache_is_keyed_by_content(tmp_path):
    ims = [_rand(s, (16, 16, 3)) for s in range(5)]
    ext = _CountingExtractor()
    a = fid_stats(ims, ext, cache_root=tmp_path / "c")
    b = fid_stats(list(reversed(ims)), ext, cache_root=tmp_path / "c")  # same set, other order
    assert (a["cache_hit"], b["cache_hit"], ext.calls) == (False, True, 1)
    np.testing.assert_allclose(a["sigma"], b["sigma"])
    changed = [im.copy() for im in ims]
    changed[2][0, 0, 0] ^= 1  # one pixel differs → a different key, recomputed
    c = fid_stats(changed, ext, cache_root=tmp_path / "c")
    assert not c["cache_hit"] and ext.calls == 2 and c["key"] != a["key"]
    assert sorted(p.parent.name for p in (tmp_path / "c").rglob("*.npz")) == ["fid_stats"] * 2


@pytest.mark.slow  # 3 Inception forwards at 299×299: 5-40 s on a shared 2-core CPU
def test_tf_inception_features_small(tmp_path):
    ext, why = tf_inception_extractor()
    if ext is None:
        pytest.skip(why)
    ims = [_rand(20, (64, 32, 3)), _rand(21, (64, 32, 3))]
    f = ext(ims)
    assert f.shape == (2, 2048) and np.isfinite(f).all() and f.min() >= 0  # post-ReLU pool
    np.testing.assert_allclose(ext(ims[:1]), f[:1], rtol=1e-4, atol=1e-5)  # batch-independent
    assert len(ext.info["weights_sha256"]) == 64 and "bicubic" in ext.info["resize"]
    s = fid_stats(ims, ext, cache_root=tmp_path)
    assert abs(fid_from_stats(s, dict(s))[0]) < 1e-6


# --------------------------------------------------------------------------------------------
# Pose accuracy
# --------------------------------------------------------------------------------------------


def test_pckh_variants_hand_computed():
    t = np.zeros((18, 3))
    t[0], t[1] = (10, 20, 1), (20, 28, 1)  # head box h=10, w=8 → PATN tolerances 5 rows, 4 cols
    t[4], t[7] = (40, 20, 1), (40, 30, 1)
    p = t.copy()
    p[4] = (44, 23, 1)  # |Δr|=4 < 5, |Δc|=3 < 4: right per axis; Euclid 5 > 0.5·0.6·√164 ≈ 3.84
    p[7] = (40, 30, 0)  # not detected: wrong for both
    r = pckh_patn(p, t)
    assert (r["correct"], r["joints"], r["value"]) == (3, 4, 0.75)
    assert pckh(p, t)["correct"] == 2
    no_head = np.zeros((18, 3))
    no_head[4] = (5, 5, 1)
    r2 = pckh_patn(np.stack([p, no_head]), np.stack([t, no_head]))
    assert r2["skipped_no_head"] == 1 and r2["joints"] == 4


# --------------------------------------------------------------------------------------------
# Files, pairing, protocols, metrics.json
# --------------------------------------------------------------------------------------------


def _write_dataset(root, n=4, seed=0, shuffle_seed=1):
    """Targets + generated images (generated = a slightly noisy copy of its own target)."""
    tdir, gdir = root / "test", root / "gen"
    tdir.mkdir(parents=True)
    gdir.mkdir()
    names = [f"{i:04d}_c1s1_000{i}_01.jpg" for i in range(n)]
    pairs = [(names[(i + 1) % n], names[i]) for i in range(n)]
    order = list(range(n))
    random.Random(shuffle_seed).shuffle(order)  # files written in a shuffled order
    imgs = {nm: _rand(seed + i) for i, nm in enumerate(names)}
    for i in order:  # lossless PNG bytes under the CSV's .jpg name (PIL reads by content)
        Image.fromarray(imgs[names[i]]).save(tdir / names[i], format="PNG")
    for i in order:
        src, dst = pairs[i]
        Image.fromarray(imgs[dst]).save(gdir / default_name_fn(src, dst))
    csv = root / "pairs.csv"
    csv.write_text("from,to\n" + "".join(f"{a},{b}\n" for a, b in pairs))
    return gdir, tdir, csv, pairs, imgs


def test_pairing_by_name_survives_shuffled_orders(tmp_path):
    gdir, tdir, csv, pairs, imgs = _write_dataset(tmp_path)
    ev = load_pair_images(gdir, tdir, csv)
    shuffled = list(pairs)
    random.Random(5).shuffle(shuffled)
    ev2 = load_pair_images(gdir, tdir, shuffled + shuffled[:1])  # plus a duplicate row
    assert ev2.info["duplicate_pairs_dropped"] == 1 and ev2.info["pairs"] == len(pairs)
    for e in (ev, ev2):
        for k in e.keys:
            np.testing.assert_array_equal(e.generated[k], e.targets[k])  # matched, not listed
            np.testing.assert_array_equal(e.targets[k], imgs[e.pairs[k][1]])
    assert ev.keys == [default_name_fn(a, b) for a, b in pairs]  # CSV order


def test_missing_and_unreadable_images_are_named(tmp_path):
    gdir, tdir, csv, pairs, _ = _write_dataset(tmp_path)
    victim = gdir / default_name_fn(*pairs[2])
    victim.unlink()
    with pytest.raises(MissingImageError, match=victim.name):
        load_pair_images(gdir, tdir, csv)
    victim.write_bytes(b"not a png at all")
    with pytest.raises(UnreadableImageError, match=victim.name):
        load_pair_images(gdir, tdir, csv)


def test_compute_metrics_dpig_masks_and_proxy_labels(tmp_path):
    keys = ["a", "b", "c"]
    gen = {k: _rand(30 + i) for i, k in enumerate(keys)}
    tgt = {k: _noisy(gen[k], 40 + i) for i, k in enumerate(keys)}
    src_m = {k: patn_pose_mask(_pose(), (64, 48)).astype(np.uint8) for k in keys}
    tgt_m = {k: np.ones((64, 48), np.uint8) for k in keys}
    r = compute_metrics(gen, tgt, "dpig", source_masks=src_m, target_masks=tgt_m,
                        weights_dir=str(tmp_path))
    want = np.mean([sk_ssim(apply_mask(gen[k], src_m[k]), apply_mask(tgt[k], src_m[k]),
                            channel_axis=2) for k in keys])
    assert r["mask_ssim"]["value"] == pytest.approx(want, abs=1e-12)
    # the all-ones target mask equals unmasked colour 7×7 SSIM: the mask really is applied
    assert r["mask_ssim_target"]["value"] == pytest.approx(
        np.mean([sk_ssim(gen[k], tgt[k], channel_axis=2) for k in keys]), abs=1e-12)
    assert r["mask_ssim"]["value"] > r["mask_ssim_target"]["value"]
    assert r["ssim"]["count"] == 3 and r["ssim"]["std"] is not None
    # no user weights: canonical IS is unavailable with a reason, never a number
    assert r["is"]["available"] is False and r["is"]["value"] is None
    assert "pt_inception-2015-12-05-6726825d.pth" in r["is"]["reason"]
    if r["is_proxy"]["available"]:
        assert r["is_proxy"]["label"].startswith("IS-proxy") and r["is_proxy"]["count"] == 3
        assert r["mask_is_proxy"]["label"].startswith("mask-IS-proxy")
        assert 1.0 <= r["is_proxy"]["value"] <= 3.0 + 1e-9  # IS ≤ number of images per split
    assert all(not v["label"].startswith("IS ") for k, v in r.items() if "proxy" in k)


def test_unavailable_metrics_carry_no_number(tmp_path):
    gen = {k: _rand(50 + i, (64, 32, 3)) for i, k in enumerate("xy")}
    tgt = {k: _rand(60 + i, (64, 32, 3)) for i, k in enumerate("xy")}
    r = compute_metrics(gen, tgt, "gfla", weights_dir=str(tmp_path))
    for key in ("ssim", "fid", "lpips", "mask_lpips"):  # ssim: 51-px window > 32-px width
        assert r[key]["available"] is False and r[key]["value"] is None and r[key]["reason"]
    reason = r["fid"]["reason"]  # names the missing weights file, or torchvision itself
    assert "inception_v3_google-0cc3c7bd.pth" in reason or "torchvision is not installed" in reason
    assert r["ssim_256"]["available"] and r["ssim_256"]["count"] == 2
    with pytest.raises(ValueError, match="unknown protocol"):
        compute_metrics(gen, tgt, "pg2")
    with pytest.raises(ValueError, match="no metric"):
        compute_metrics(gen, tgt, "gfla", metrics=("is",))
    assert list(compute_metrics(gen, tgt, "gfla", metrics=("ssim_256",))) == ["ssim_256"]


def test_patn_white_padding_inflates_ssim():
    g = {"a": _rand(70, (64, 44, 3))}
    t = {"a": _noisy(g["a"], 71)}
    plain = compute_metrics(g, t, "patn", metrics=("ssim",))["ssim"]
    padded = compute_metrics(g, t, "patn", deepfashion_pad=True, metrics=("ssim",))["ssim"]
    assert padded["value"] > plain["value"] and padded["white_pad"] == 40


def test_user_weights_hash_in_name_is_checked(tmp_path):
    f = tmp_path / "alex.pth"
    f.write_bytes(b"stand-in weights")
    good = sha256_file(f)[:8]
    assert find_user_weights("lpips_alex", tmp_path, sha256_prefix=good)[0] == f
    path, why = find_user_weights("lpips_alex", tmp_path, sha256_prefix="00000000")
    assert path is None and "sha256" in why and str(f) in why
    path, why = find_user_weights("tf_inception_is", tmp_path)
    assert path is None and "pytorch-fid" in why


def test_score_folder_writes_metrics_json(tmp_path):
    gdir, tdir, csv, pairs, imgs = _write_dataset(tmp_path)
    kp = {nm: _pose() for nm in imgs}
    out = tmp_path / "run" / "eval" / "metrics.json"
    doc = score_folder(gdir, tdir, csv, protocols=("dpig", "patn"), keypoints=kp, mask_radius=4,
                       out_path=out, checkpoints=["stage1/checkpoints/latest.pt"],
                       metrics=("ssim", "mask_ssim", "is_proxy", "pckh_patn"),
                       detect_keypoints=lambda ims: np.stack([_pose()] * len(ims)))
    saved = json.loads(out.read_text())
    assert saved["protocols"].keys() == {"dpig", "patn"}
    d = saved["protocols"]["dpig"]["metrics"]
    assert d["ssim"]["value"] == pytest.approx(1.0) and d["ssim"]["count"] == 4
    assert d["mask_ssim"]["value"] == pytest.approx(1.0)
    assert saved["protocols"]["patn"]["metrics"]["pckh_patn"]["value"] == pytest.approx(1.0)
    assert saved["protocols"]["dpig"]["description"]["source"].startswith("DPIG")
    assert saved["images"]["pairs"] == 4 and "bicubic" in saved["images"]["resize_kernel"]
    assert saved["images"]["file_formats"]["generated"] == {".png": 4}
    assert saved["images"]["dpig_mask_radius"] == 4
    assert saved["checkpoints"] == ["stage1/checkpoints/latest.pt"]
    assert saved["library_versions"]["numpy"] and saved["library_versions"]["torch"]
    assert saved["device"]["device"] == "cpu" and "B17" in saved["test_set"]
    if d["is_proxy"]["available"]:
        assert any(len(h) == 64 for h in saved["weights"].values())
    assert not list(gdir.glob("*.npz")) and not list(tdir.glob("*.npz"))  # no caches in data


def test_protocol_table_is_complete():
    assert set(PROTOCOLS) == {"dpig", "patn", "gfla", "clean"}
    for p in PROTOCOLS.values():
        d = p.describe()
        assert d["source"] and d["metrics"] and d["knobs"]


def test_canonical_is_network_ignores_the_classifier_bias():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from dpiglib.metrics.inception_nets import build_tf_inception, tf_inception_probs

    torch.manual_seed(0)
    net = build_tf_inception().eval()
    assert net.fc.out_features == 1008
    x = torch.rand(1, 3, 64, 32)
    p = tf_inception_probs(net, x)
    with torch.no_grad():
        net.fc.bias.fill_(50.0)
        net.fc.bias[3] = 1e4  # would dominate the softmax if the bias were used
    p2 = tf_inception_probs(net, x)
    assert p.shape == (1, 1008) and float(p.sum()) == pytest.approx(1.0)
    torch.testing.assert_close(p, p2)


def test_lpips_network_is_a_distance():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from dpiglib.metrics.lpips import LPIPSAlex, lpips_distances

    torch.manual_seed(0)
    net = LPIPSAlex().eval()
    a, b = _rand(80, (64, 64, 3)), _rand(81, (64, 64, 3))
    d = lpips_distances(net, [a, a], [a.copy(), b])
    assert d.shape == (2,) and d[0] == pytest.approx(0.0, abs=1e-12) and d[1] > 0
    assert set(k.split(".")[0] for k in net.state_dict() if k.startswith("lin")) == {
        f"lin{k}" for k in range(5)}


def test_weight_file_layouts_match_the_upstream_module_trees():
    """The user-provided files load strictly into the trees that wrote them: pytorch-fid's
    ``fid_inception_v3()`` is torchvision's Inception3(num_classes=1008, aux_logits=False) with
    Mixed_5b…7c replaced by subclasses that add no parameters (checked against pytorch-fid's
    src/pytorch_fid/inception.py), and LPIPS v0.1 ``alex.pth`` holds ``lin{k}.model.1.weight``
    of shape (1, C_k, 1, 1) (NetLinLayer = Sequential(Dropout, Conv2d(C_k, 1, 1, bias=False))).
    Without the real files this pins every key name and shape they must provide."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from torchvision.models.inception import Inception3

    from dpiglib.metrics.inception_nets import build_tf_inception
    from dpiglib.metrics.lpips import LPIPSAlex

    ours = {k: tuple(v.shape) for k, v in build_tf_inception().state_dict().items()}
    upstream = {k: tuple(v.shape) for k, v in
                Inception3(num_classes=1008, aux_logits=False, init_weights=False).state_dict().items()}
    assert ours == upstream
    assert ours["fc.weight"] == (1008, 2048) and not any(k.startswith("AuxLogits") for k in ours)
    # a file with exactly these keys loads strictly
    build_tf_inception().load_state_dict({k: torch.zeros(s) for k, s in upstream.items()})

    lp = {k: tuple(v.shape) for k, v in LPIPSAlex().state_dict().items() if k.startswith("lin")}
    assert lp == {f"lin{k}.model.1.weight": (1, c, 1, 1)
                  for k, c in enumerate((64, 192, 384, 256, 256))}
