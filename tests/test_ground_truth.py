"""SynthPerson ground-truth scores (dpiglib.metrics.ground_truth): oracle, copy-source, DPIG adapter."""

from __future__ import annotations

import numpy as np
import pytest

from dpiglib.metrics.ground_truth import (TASKS, CopySourceModel, GroundTruthModel, OracleModel,
                                          SamplerModel, ground_truth_pairs, ground_truth_scores,
                                          true_render)
from dpiglib.synth.dataset import SynthGroundTruth, generate_synthperson


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gt_synth")
    generate_synthperson(root, identities=1, images_per_identity=3, test_identities=3,
                         size=(64, 32), seed=3, progress=False)
    return root


@pytest.fixture(scope="module")
def gt(synth_root):
    return SynthGroundTruth(synth_root, "test")


def _value(df, task, metric_prefix):
    rows = df[(df.task == task) & (df.metric == metric_prefix)]
    if rows.empty:
        rows = df[(df.task == task) & df.metric.str.startswith(metric_prefix)]
    assert len(rows) == 1, (task, metric_prefix, df[["task", "metric"]])
    return float(rows.value.iloc[0])


def test_true_renders_recombine_the_right_factors(gt):
    a = next(n for n in gt.table.index if n.startswith("0002"))
    b = next(n for n in gt.table.index if n.startswith("0003"))
    app_a, pose_a, bg_a = gt.factors(a)
    app_b, pose_b, bg_b = gt.factors(b)
    r = gt.renderer.render
    assert np.array_equal(true_render(gt, "fg_swap", a, b).image, r(app_b, pose_a, bg_a).image)
    assert np.array_equal(true_render(gt, "bg_swap", a, b).image, r(app_a, pose_a, bg_b).image)
    assert np.array_equal(true_render(gt, "pose_transfer", a, b).image,
                          r(app_a, pose_b, bg_a).image)
    assert np.array_equal(true_render(gt, "reconstruction", a, a).image, r(app_a, pose_a, bg_a).image)
    with pytest.raises(ValueError, match="unknown task 'swap'"):
        true_render(gt, "swap", a, b)


def test_pairs_are_deterministic_and_swaps_cross_identities(synth_root):
    rec = ground_truth_pairs(synth_root, "test", "reconstruction", 4)
    assert [a == b for a, b in rec] == [True] * 4
    swaps = ground_truth_pairs(synth_root, "test", "fg_swap", 9)
    assert len(swaps) == 9 and swaps == ground_truth_pairs(synth_root, "test", "bg_swap", 9)
    assert all(a.split("_")[0] != b.split("_")[0] for a, b in swaps)
    pt = ground_truth_pairs(synth_root, "test", "pose_transfer", 5)
    assert len(pt) == len(set(pt)) == 5
    assert all(a.split("_")[0] == b.split("_")[0] for a, b in pt)  # the PG2 task: same person


def test_oracle_is_perfect_and_copy_source_is_not(synth_root, gt):
    oracle = ground_truth_scores(OracleModel(gt), synth_root, n=6)
    copy = ground_truth_scores(CopySourceModel(synth_root), synth_root, n=6)
    for task in TASKS:
        assert _value(oracle, task, "SSIM") == pytest.approx(1.0, abs=1e-12)
        assert _value(oracle, task, "L1") == 0.0
        assert oracle[(oracle.task == task)]["count"].min() > 0
    # the stored image is the true render of its own factors: copying it reconstructs perfectly
    assert _value(copy, "reconstruction", "SSIM") == pytest.approx(1.0, abs=1e-12)
    for task in ("pose_transfer", "fg_swap", "bg_swap"):
        assert _value(copy, task, "SSIM") < 0.9
        assert _value(copy, task, "L1") > 0.01
    # copying keeps the person: a background swap's error sits on the background only
    assert _value(copy, "bg_swap", "L1 on true foreground") == 0.0
    assert _value(copy, "bg_swap", "L1 on true background") > 0.01
    for f in ("bg", "fg", "pose"):
        assert _value(oracle, f"leakage: {f}", "leak") == 0.0  # true renders never leak
        assert _value(oracle, f"leakage: {f}", "intended") > 0.0
        assert _value(copy, f"leakage: {f}", "intended") == 0.0  # changes nothing at all
    assert list(oracle.columns) == ["model", "task", "metric", "value", "std", "count", "note"]


def test_l1_is_mean_absolute_error_on_0_1(synth_root, gt):
    class Inverted(GroundTruthModel):
        def predict(self, task, source, target):
            return 255 - true_render(gt, task, source, target).image

    df = ground_truth_scores(Inverted(), synth_root, n=2, tasks=("reconstruction",), leakage=False)
    names = [a for a, _ in ground_truth_pairs(synth_root, "test", "reconstruction", 2)]
    expected = np.mean([np.abs(255 - 2 * gt.render(n).image.astype(float)).mean() / 255 for n in names])
    assert _value(df, "reconstruction", "L1") == pytest.approx(expected, rel=1e-12)


def test_sampler_model_matches_the_sampler_api(trained_tiny_run):
    from dpiglib.metrics.evaluation import to_uint8_images
    from dpiglib.sampling.sampler import Sampler

    root = trained_tiny_run.data_root
    sampler = Sampler.from_run_dir(trained_tiny_run.run_dir, device="cpu", stage2=False)
    model = SamplerModel(sampler, root, batch_size=3)
    a_name, b_name = ground_truth_pairs(root, "test", "fg_swap", 1)[0]
    a, b = (model.ds.load(model.index[n]) for n in (a_name, b_name))
    refs = {"fg_swap": sampler.swap(a, b, "fg"), "bg_swap": sampler.swap(a, b, "bg"),
            "pose_transfer": sampler.pose_transfer(a, b),
            "reconstruction": sampler.generate(fg=a, bg=a, pose=a)}
    for task, ref in refs.items():
        got = model.predict(task, a_name, b_name)
        assert got.dtype == np.uint8 and got.shape == (64, 32, 3)
        assert np.abs(got.astype(int) - to_uint8_images(ref)[0]).max() <= 1, task
    df = ground_truth_scores(model, root, n=4)
    assert set(df.task) == set(TASKS) | {"leakage: bg", "leakage: fg", "leakage: pose"}
    assert (df["count"] > 0).all() and df.value.notna().all()
    assert _value(df, "reconstruction", "SSIM") < 1.0  # a briefly trained model is not perfect
