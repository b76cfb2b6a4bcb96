"""Evaluation runner (dpiglib.metrics.evaluation) and `dpig evaluate`: each pair once, by name (orig B17)."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest

from dpiglib.data.annotations import read_pairs_csv, write_pairs_csv
from dpiglib.metrics.evaluation import (evaluate_folder, evaluate_run, generate_test_outputs,
                                        to_uint8_images, unique_pairs)
from dpiglib.metrics.io import MissingImageError


def test_unique_pairs_keeps_first_occurrences_in_order():
    pairs = [("a", "b"), ("c", "d"), ("a", "b"), ("e", "f"), ("c", "d"), ("g", "h")]
    assert unique_pairs(pairs) == ([0, 1, 3, 5], 2)
    assert unique_pairs(pairs, 3) == ([0, 1, 3], 1)
    assert unique_pairs(pairs, 0) == ([0, 1, 3, 5], 2)  # 0 = all


def test_to_uint8_rounds_and_clips():
    import torch

    x = torch.tensor([-2.0, -1.0, 0.0, 1.0 / 127.5, 1.0, 3.0]).view(1, 3, 1, 2)
    out = to_uint8_images(x)
    assert out.shape == (1, 1, 2, 3) and out.dtype == np.uint8
    assert sorted(out.ravel().tolist()) == sorted([0, 0, 128, 128, 255, 255])


@pytest.fixture(scope="module")
def sampler(trained_tiny_run):
    from dpiglib.sampling.sampler import Sampler

    return Sampler.from_run_dir(trained_tiny_run.run_dir, device="cpu", stage2=False)


def test_generate_writes_each_pair_once_in_csv_order(trained_tiny_run, sampler, tmp_path):
    root = trained_tiny_run.data_root
    csv_pairs = read_pairs_csv(root / "synth-pairs-test.csv")
    # a pairs file with a repeated row: the repeat is generated once (orig B17)
    data = tmp_path / "data"
    shutil.copytree(root, data)
    write_pairs_csv(data / "synth-pairs-test.csv", csv_pairs[:3] + [csv_pairs[1]] + csv_pairs[3:])
    out = tmp_path / "gen"
    out.mkdir()
    (out / "stale___old.png").write_bytes(b"x")  # an earlier run's output: removed
    info = generate_test_outputs(sampler, data, "test", out, max_pairs=5, batch_size=2)
    expected = csv_pairs[:5]
    assert info["pairs"] == 5 and info["duplicates_skipped"] == 1
    assert read_pairs_csv(out / "pairs.csv") == expected
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == sorted(f"{a[:-4]}___{b[:-4]}.png" for a, b in expected)
    first = {n: (out / n).read_bytes() for n in names}
    generate_test_outputs(sampler, data, "test", out, max_pairs=5, batch_size=5)
    assert {n: (out / n).read_bytes() for n in names} == first  # deterministic, batch-independent
    # the file is the Sampler's pose transfer of that pair, as uint8
    from dpiglib.data.datasets import PairDataset
    from PIL import Image

    ds = PairDataset(data, "test", sampler.cfg.data)
    item = ds[0]
    ref = to_uint8_images(sampler.pose_transfer(item["source"], item["target"]))[0]
    got = np.asarray(Image.open(out / f"{expected[0][0][:-4]}___{expected[0][1][:-4]}.png"))
    assert np.abs(got.astype(int) - ref).max() <= 1


def test_evaluate_run_writes_metrics_json(trained_tiny_run, sampler, tmp_path):
    out = tmp_path / "eval"
    doc = evaluate_run(trained_tiny_run.run_dir, "dpig,clean", device="cpu", max_pairs=6,
                       out_dir=out, metrics=["ssim", "mask_ssim"], sampler=sampler)
    saved = json.loads((out / "metrics.json").read_text())
    for d in (doc, saved):
        assert set(d["protocols"]) == {"dpig", "clean"}
        assert set(d["protocols"]["dpig"]["metrics"]) == {"ssim", "mask_ssim"}
        assert set(d["protocols"]["clean"]["metrics"]) == {"ssim"}
        assert d["protocols"]["dpig"]["metrics"]["ssim"]["count"] == 6
        assert d["generation"]["pairs"] == 6 and d["images"]["pairs"] == 6
        assert d["images"]["dpig_mask_radius"] == trained_tiny_run.cfg.data.eval_mask_radius
    for key in ("test_set", "library_versions", "device", "checkpoints", "written_utc"):
        assert key in saved
    assert any(c.endswith("latest.pt") for c in saved["checkpoints"])
    assert 0 < saved["protocols"]["clean"]["metrics"]["ssim"]["value"] < 1
    with pytest.raises(FileNotFoundError, match="no stage1"):
        evaluate_run(tmp_path, device="cpu")


def _copy_targets_as_outputs(root, pairs, folder, order_seed=0):
    """A 'method' whose output for (a, b) is the true target b, files written in random order."""
    folder.mkdir()
    shuffled = list(pairs)
    random.Random(order_seed).shuffle(shuffled)
    for a, b in shuffled:
        shutil.copy(root / "test" / b, folder / f"{a[:-4]}___{b[:-4]}.png")


def test_evaluate_folder_matches_by_name_not_listing_order(trained_tiny_run, tmp_path):
    root = trained_tiny_run.data_root
    pairs = read_pairs_csv(root / "synth-pairs-test.csv")[:8]
    gen = tmp_path / "peer"
    _copy_targets_as_outputs(root, pairs, gen)
    doc = evaluate_folder(gen, root, "test", "dpig,clean", max_pairs=8,
                          metrics=["ssim", "mask_ssim"], out_path=tmp_path / "m.json")
    assert doc["protocols"]["clean"]["metrics"]["ssim"]["value"] == pytest.approx(1.0)
    assert doc["protocols"]["dpig"]["metrics"]["ssim"]["value"] == pytest.approx(1.0)
    assert doc["protocols"]["dpig"]["metrics"]["mask_ssim"]["count"] == 8
    assert (tmp_path / "m.json").is_file()
    # paired by listing order instead (the original's glob), the outputs would not match
    listed = sorted(gen.iterdir())
    from PIL import Image

    wrong = sum(not np.array_equal(np.asarray(Image.open(p)),
                                   np.asarray(Image.open(root / "test" / b)))
                for p, (_, b) in zip(listed, pairs))
    assert wrong > 0


def test_missing_generated_image_is_named(trained_tiny_run, tmp_path):
    root = trained_tiny_run.data_root
    pairs = read_pairs_csv(root / "synth-pairs-test.csv")[:4]
    gen = tmp_path / "peer"
    _copy_targets_as_outputs(root, pairs, gen)
    a, b = pairs[2]
    victim = f"{a[:-4]}___{b[:-4]}.png"
    (gen / victim).unlink()
    with pytest.raises(MissingImageError, match=victim):
        evaluate_folder(gen, root, "test", ["clean"], max_pairs=4, metrics=["ssim"])


def test_cli_evaluate_scores_a_folder(trained_tiny_run, tmp_path, capsys):
    from dpiglib.cli import main

    root = trained_tiny_run.data_root
    pairs = read_pairs_csv(root / "synth-pairs-test.csv")[:3]
    gen = tmp_path / "peer"
    _copy_targets_as_outputs(root, pairs, gen)
    write_pairs_csv(tmp_path / "pairs.csv", pairs)
    assert main(["evaluate", "--generated", str(gen), "--data-root", str(root), "--pairs-csv",
                 str(tmp_path / "pairs.csv"), "--protocols", "clean", "--metrics", "ssim",
                 "--device", "cpu", "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "clean  ssim" in out and "1.0000 (n=3)" in out
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["images"]["pairs"] == 3
    assert main(["evaluate", "--generated", str(gen), "--device", "cpu"]) == 2
    assert "--generated needs --data-root" in capsys.readouterr().err


def test_evaluate_run_pose_accuracy_uses_mediapipe_when_installed(trained_tiny_run, sampler, tmp_path):
    """PCKh is computed with the optional MediaPipe estimator, or reported unavailable (never guessed)."""
    from dpiglib.photos import estimator

    doc = evaluate_run(trained_tiny_run.run_dir, "clean", device="cpu", max_pairs=4,
                       out_dir=tmp_path / "eval", metrics=["pckh"], sampler=sampler)
    res = doc["protocols"]["clean"]["metrics"]["pckh"]
    if estimator.is_available():
        assert res["available"] is True and res["count"] == 4
        assert 0.0 <= res["value"] <= 1.0
    else:
        assert res["available"] is False and res["value"] is None


def test_generate_deepfashion_fitted_targets(tmp_path):
    """DeepFashion crops stored narrower than the model (PATN 256×176 → 256×256 by white
    padding; here 64×44 → 64×64): generation writes the *fitted* targets beside the outputs, once
    each, and reports keypoints in the generated frame (columns shifted by the pad)."""
    import torch
    from fixtures import make_deepfashion
    from PIL import Image

    from dpiglib.config import get_preset

    df = make_deepfashion(tmp_path / "df", size=(64, 44), split="test")
    cfg = get_preset("deepfashion", data_image_height=64, data_image_width=64, eval_pairs=0)
    calls = []

    class FakeSampler:  # generate_test_outputs needs only .cfg and .pose_transfer
        def __init__(self):
            self.cfg = cfg

        def pose_transfer(self, src, rcv):
            calls.append(len(src))
            assert rcv.shape == (len(src), 18, 3)
            return torch.zeros(len(src), 3, 64, 64)  # mid-grey outputs

    out = tmp_path / "eval" / "generated"
    info = generate_test_outputs(FakeSampler(), df["root"], "test", out, batch_size=3)
    assert info["pairs"] == len(df["pairs"]) and sum(calls) == len(df["pairs"])
    targets = tmp_path / "eval" / "targets"
    assert info["target_dir"] == str(targets)
    used_targets = sorted({b for _, b in df["pairs"]})
    assert sorted(p.name for p in targets.iterdir()) == used_targets
    pad = (64 - 44) // 2
    for name in used_targets:
        fitted = np.asarray(Image.open(targets / name).convert("RGB")).astype(int)
        stored = np.asarray(Image.open(df["root"] / "test" / name).convert("RGB")).astype(int)
        assert fitted.shape == (64, 64, 3)
        assert (fitted[:, :pad] == 255).all() and (fitted[:, pad + 44:] == 255).all()
        assert np.abs(fitted[:, pad:pad + 44] - stored).max() <= 1  # the crop, unchanged
        i = df["names"].index(name)
        vis = df["rcvs"][i][:, 2] > 0
        assert np.allclose(info["keypoints"][name][vis, 1], df["rcvs"][i][vis, 1] + pad)
        assert np.allclose(info["keypoints"][name][vis, 0], df["rcvs"][i][vis, 0])
    for p in out.glob("*___*.png"):
        assert Image.open(p).size == (64, 64)


def test_cli_evaluate_accepts_peer_names_and_refuses_others_in_one_line(tmp_path, capsys):
    """`FROM___TO.png` and the peers' `FROM.jpg___TO.jpg.png` name the same pair; any other name
    is a one-line error (exit 2, no traceback) that shows the expected pattern."""
    from fixtures import make_market
    from PIL import Image

    from dpiglib.cli import main

    root = make_market(tmp_path / "market")["root"]
    pairs = read_pairs_csv(root / "market-pairs-test.csv")
    gen = tmp_path / "peer"
    gen.mkdir()
    (a0, b0), (a1, b1) = pairs
    Image.open(root / "test" / b0).save(gen / f"{a0}___{b0}.png")  # the peers' naming
    Image.open(root / "test" / b1).save(gen / f"{a1[:-4]}___{b1[:-4]}.png")  # the kit's
    argv = ["evaluate", "--generated", str(gen), "--data-root", str(root), "--protocols", "clean",
            "--metrics", "ssim", "--device", "cpu", "--out", str(tmp_path / "ev")]
    assert main(argv) == 0
    assert "1.0000 (n=2)" in capsys.readouterr().out
    images = json.loads((tmp_path / "ev" / "metrics.json").read_text())["images"]
    assert images["generated_names"] == {"FROM___TO.png": 1, "FROM.jpg___TO.jpg.png": 1}

    (gen / f"{a0}___{b0}.png").rename(gen / f"{a0[:-4]}-{b0[:-4]}.png")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{a0[:-4]}___{b0[:-4]}.png or {a0}___{b0}.png" in err
    assert "FROM___TO.png or FROM.jpg___TO.jpg.png" in err

    assert main(argv[:2] + [str(tmp_path / "nowhere")] + argv[3:]) == 2
    assert "is not a folder" in capsys.readouterr().err
