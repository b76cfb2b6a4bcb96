"""Explorer callbacks (dpiglib.ui.widgets) driven without a browser, and the widget wiring."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from dpiglib.ui import widgets as Wd
from dpiglib.sampling.sampler import Sampler, Stage2MissingError
from dpiglib.training.stage1 import load_stage1

H, W = 64, 32


def test_resample_changes_only_with_the_seed(sampler, dataset):
    st = Wd.new_state(sampler, dataset, seed=0)
    assert st.sources == {"fg": ("sample", 0), "bg": ("sample", 0), "pose": ("real", 0)}
    base = Wd.render_explorer(st, captions=False)
    assert base.dtype == np.uint8 and base.shape == (H * 3, (4 * W + 6) * 3, 3)
    Wd.resample(st, "fg", 5)
    changed = Wd.render_explorer(st, captions=False)
    assert not np.array_equal(base, changed)
    Wd.resample(st, "fg", 0)
    assert np.array_equal(base, Wd.render_explorer(st, captions=False))
    # the explorer's image is the Sampler's own output for the same sources
    img = sampler.generate(fg=sampler.sample_factors(1, ["fg"], seed=0),
                           bg=sampler.sample_factors(1, ["bg"], seed=0), pose=dataset[0])
    from dpiglib.data.datasets import to_uint8
    out_panel = base[::3, ::3][:, 3 * (W + 2):]
    assert np.array_equal(out_panel, to_uint8(img[0]))


def test_pick_real_encodes_each_image_once(sampler, dataset, monkeypatch):
    st = Wd.new_state(sampler, dataset)
    Wd.render_explorer(st)  # encodes the pose image 0
    calls = []
    real_encode = sampler.encode
    monkeypatch.setattr(sampler, "encode", lambda x: calls.append(1) or real_encode(x))
    Wd.pick_real(st, "fg", 2)
    Wd.pick_real(st, "bg", 2)
    Wd.render_explorer(st)
    Wd.move_joint(st, "r_wrist", 3, 0)
    Wd.render_explorer(st)
    assert len(calls) == 1
    assert torch.equal(Wd.current_factors(st)["fg"], real_encode(dataset[2])["fg"])
    with pytest.raises(IndexError):
        Wd.pick_real(st, "fg", len(dataset))


def test_every_panel_is_captioned_with_its_source(sampler, dataset):
    """No unexplained panel: each says what it is and where it comes from, a factor drawn from
    noise included (its card has no image behind it), and the captions are in the image."""
    st = Wd.new_state(sampler, dataset, seed=0)
    Wd.move_joint(st, "r_wrist", 2, 0)
    panels = Wd.explorer_panels(st)
    assert [(h, s) for h, s, _ in panels] == [
        ("fg source", "Φ(z), seed 0"), ("bg source", "Φ(z), seed 0"),
        ("pose (heatmap)", "image 0 + moved"), ("generated", "G(fg, bg, pose)")]
    from dpiglib.data.datasets import to_uint8
    Wd.pick_real(st, "bg", 3)
    assert Wd.explorer_panels(st)[1][1] == "image 3"
    assert np.array_equal(Wd.explorer_panels(st)[1][2], to_uint8(dataset[3]["image"]))
    img = Wd.render_explorer(st)  # the live widget's image: panels, then the captions below
    bare = Wd.render_explorer(st, captions=False)
    assert np.array_equal(img[:H * 3], bare) and img.shape[0] > H * 3 + 20
    band = img[H * 3:]
    for k in range(4):  # text under every panel
        cols = slice(k * (W + 2) * 3, (k * (W + 2) + W) * 3)
        assert (band[:, cols] < 128).any(), f"panel {k} has no caption"


def test_new_state_with_examples_opens_on_three_real_images(sampler, dataset):
    st = Wd.new_state(sampler, dataset, seed=0, examples=[2, 5, 7])
    assert st.sources == {"fg": ("real", 2), "bg": ("real", 5), "pose": ("real", 7)}
    assert Wd.new_state(sampler, dataset, examples=[4]).sources["pose"] == ("real", 4)
    f = Wd.current_factors(st)
    assert torch.equal(f.rcv[0], dataset[7]["rcv"])
    assert torch.equal(f["bg"], sampler.encode(dataset[5])["bg"])


def test_offset_pose_moves_visible_keypoints_and_clamps():
    rcv = torch.zeros(18, 3)
    rcv[0] = torch.tensor([10.0, 5.0, 1.0])
    rcv[4] = torch.tensor([60.0, 30.0, 1.0])
    out = Wd.offset_pose(rcv, (0, 4), (H, W))
    assert out[0].tolist() == [10.0, 9.0, 1.0] and out[4].tolist() == [60.0, 31.0, 1.0]
    assert out[1].tolist() == [0.0, 0.0, 0.0]  # missing stays missing
    per_joint = np.zeros((18, 2), np.float32)
    per_joint[4] = (-10, 0)
    moved = Wd.offset_pose(rcv, per_joint, (H, W))
    assert moved[4].tolist() == [50.0, 30.0, 1.0] and torch.equal(moved[0], rcv[0])
    assert torch.equal(rcv[0], torch.tensor([10.0, 5.0, 1.0]))  # input untouched


def test_move_joint_moves_visible_keypoints_only(sampler, dataset):
    st = Wd.new_state(sampler, dataset)
    rcv0 = Wd.current_factors(st).rcv.clone()
    before = Wd.render_explorer(st)
    k = int(np.flatnonzero(rcv0[0, :, 2].numpy() > 0.5)[0])
    Wd.move_joint(st, k, 5, -3)
    rcv1 = Wd.current_factors(st).rcv
    exp_r = min(max(float(rcv0[0, k, 0]) + 5, 0), H - 1)
    exp_c = min(max(float(rcv0[0, k, 1]) - 3, 0), W - 1)
    assert rcv1[0, k, 0] == exp_r and rcv1[0, k, 1] == exp_c
    others = [j for j in range(18) if j != k]
    assert torch.equal(rcv1[0, others], rcv0[0, others])
    assert not np.array_equal(before, Wd.render_explorer(st))
    Wd.reset_joints(st)
    assert np.array_equal(before, Wd.render_explorer(st))
    with pytest.raises(ValueError, match="joint"):
        Wd.move_joint(st, 18, 0, 0)


def test_interpolation_and_inversion_views(sampler, dataset):
    st = Wd.new_state(sampler, dataset)
    strip = Wd.interpolation_strip(st, 0, 1, n=5)
    assert strip.shape == (H, 5 * W, 3)
    first = Wd.interpolation_frame(st, 0.0)
    from dpiglib.data.datasets import to_uint8
    a = sampler.encode(dataset[0])
    assert np.abs(first.astype(int) - to_uint8(sampler.render(a)[0]).astype(int)).max() <= 1
    assert np.array_equal(Wd.interpolation_frame(st, 1.0), strip[:, -W:])
    inv, strip = Wd.invert_image(st, 1, steps=20)
    assert strip.shape == (H, 3 * W, 3) and set(inv.residual) == {"fg", "bg", "pose"}


def test_without_stage2_resample_fails_clearly(trained_tiny_run, dataset):
    s1, pae, cfg = load_stage1(trained_tiny_run.run_dir)
    s = Sampler(s1, pae, None, cfg)
    st = Wd.new_state(s, dataset)
    assert all(m == "real" for m, _ in st.sources.values())
    assert Wd.render_explorer(st, captions=False).shape[0] == H * 3
    with pytest.raises(Stage2MissingError, match="Stage-II"):
        Wd.resample(st, "bg", 1)


def _find(widget, description):
    stack = [widget]
    while stack:
        w = stack.pop()
        if getattr(w, "description", None) == description:
            return w
        stack.extend(getattr(w, "children", ()))
    raise KeyError(description)


def test_built_explorer_updates_its_image(sampler, dataset):
    pytest.importorskip("ipywidgets")
    box = Wd.build_explorer(sampler, dataset, seed=0)
    image = next(w for w in box.children if "dpig-explorer-image" in w._dom_classes)
    v0 = image.value
    assert v0[:8] == b"\x89PNG\r\n\x1a\n"
    timings = []
    for desc, value in (("fg seed", 3), ("bg seed", 4), ("pose seed", 2), ("Δrow", 4),
                        ("Δcol", -2)):
        t = time.perf_counter()
        _find(box, desc).value = value
        timings.append(time.perf_counter() - t)
        assert image.value != v0, desc
        v0 = image.value
    assert box.state.sources["pose"] == ("sample", 2)
    assert "dpig-fg-seed" in _find(box, "fg seed")._dom_classes
    _find(box, "fg image").value = 1
    assert box.state.sources["fg"] == ("real", 1)
    # issue 7 target is < 150 ms per update on an idle 2-core CPU; the shared test machine only
    # gets a loose bound here (benchmarks/bench_sampling.py measures it)
    assert np.median(timings) < 1.0, timings


def _shown(fig):
    """(suptitle, [(axis title, image array)], [y labels]) of a figure of titled panels."""
    return (fig._suptitle.get_text() if fig._suptitle is not None else "",
            [(ax.get_title(), np.asarray(ax.images[0].get_array()))
             for ax in fig.axes if ax.images],
            [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()])


EXAMPLES = [0, 4, 9]


def test_static_views_show_the_explorers_images(sampler, dataset):
    """Each figure shows what its title says, panel for panel: the start view, one factor
    redrawn per row, the wrist moves, the interpolation between the first two examples and the
    inversion of the first; the model's name is in every title."""
    import matplotlib.pyplot as plt

    figs = Wd.static_views(sampler, dataset, seed=0, n=2, examples=EXAMPLES, label="model X")
    try:
        shown = [_shown(f) for f in figs]
    finally:
        for f in figs:
            plt.close(f)
    assert len(shown) == 5 and all("(model X)" in sup for sup, _, _ in shown)
    start = lambda: Wd.new_state(sampler, dataset, seed=0, examples=EXAMPLES)  # noqa: E731

    (sup0, cells0, _) = shown[0]
    expect = Wd.explorer_panels(start())
    assert [t for t, _ in cells0] == [f"{h}\n{s}" for h, s, _ in expect]
    assert [t for t, _ in cells0][:3] == ["fg source\nimage 0", "bg source\nimage 4",
                                          "pose (heatmap)\nimage 9"]
    for (_, img), (_, _, want) in zip(cells0, expect):
        assert np.array_equal(img, want)

    (sup1, cells1, ylabels1) = shown[1]
    assert ylabels1 == ["fg from Φ(z)", "bg from Φ(z)", "pose from Φ(z)"]
    assert [t for t, _ in cells1] == [t for f in ("fg", "bg", "pose")
                                      for t in ("start view", f"{f}: Φ(z), seed 0", f"{f}: Φ(z), seed 1")]
    for r, f in enumerate(("fg", "bg", "pose")):
        row = cells1[3 * r: 3 * r + 3]
        assert np.array_equal(row[0][1], expect[-1][2])
        for k in (0, 1):
            st = Wd.resample(start(), f, k)
            assert np.array_equal(row[k + 1][1], Wd.explorer_panels(st)[-1][2]), row[k + 1][0]
        assert not np.array_equal(row[1][1], row[2][1]), f  # two seeds: two people / poses

    (sup2, cells2, ylabels2) = shown[2]
    assert "per-joint pose sliders" in sup2
    assert ylabels2 == ["wrists −6 px", "as is", "wrists +6 px"]
    left, as_is, right = (cells2[4 * r: 4 * r + 4] for r in range(3))
    assert [np.array_equal(a[1], b[2]) for a, b in zip(as_is, expect)] == [True] * 4
    for moved in (left, right):
        for k in (0, 1):  # the fg and bg source panels do not follow the pose
            assert np.array_equal(moved[k][1], as_is[k][1])
        for k in (2, 3):
            assert not np.array_equal(moved[k][1], as_is[k][1])
        assert moved[2][0].endswith("+ moved")

    (sup3, cells3, _) = shown[3]
    assert sup3 == "interpolation (model X): image 0 → image 4"
    strip = Wd.interpolation_strip(start(), 0, 4, n=6)
    assert np.array_equal(np.concatenate([img for _, img in cells3], axis=1), strip)
    assert cells3[0][0] == "t = 0.00\nimage 0" and cells3[-1][0] == "t = 1.00\nimage 4"

    (sup4, cells4, _) = shown[4]
    assert sup4.startswith("inversion (model X) (residual ‖Φ(z*) − e‖²/D: fg ")
    assert [t for t, _ in cells4] == ["real\nimage 0", "G(encoders)\nits embeddings",
                                      "G(Φ(z*))\ninverted noise"]
    from dpiglib.data.datasets import to_uint8
    assert np.array_equal(cells4[0][1], to_uint8(dataset[0]["image"]))


def test_static_views_without_stage2_use_real_images_and_skip_the_inversion(trained_tiny_run,
                                                                            dataset):
    import matplotlib.pyplot as plt

    s1, pae, cfg = load_stage1(trained_tiny_run.run_dir)
    figs = Wd.static_views(Sampler(s1, pae, None, cfg), dataset, seed=0, n=2, examples=EXAMPLES)
    try:
        shown = [_shown(f) for f in figs]
    finally:
        for f in figs:
            plt.close(f)
    assert [sup.split(" ")[0] for sup, _, _ in shown] == ["explorer:", "explorer:", "explorer:",
                                                          "interpolation:"]
    assert shown[1][2] == ["fg from real images", "bg from real images", "pose from real images"]
    assert [t for t, _ in shown[1][1]][:3] == ["start view", "fg: image 0", "fg: image 4"]


def test_explorer_model_run_and_pretrained(trained_tiny_run, monkeypatch, tmp_path):
    """explore_model="run" is the run's model on its test split; "pretrained" is the shipped
    model (stood in for here) on the run's test people, or on the held-out set when the run
    has no dataset; a preset without a pretrained model falls back to the run's model with a
    one-line note."""
    from dpiglib.config import get_preset
    from dpiglib.pretrained import store

    run, root = trained_tiny_run.run_dir, trained_tiny_run.data_root
    cfg = trained_tiny_run.cfg
    shown = Wd.explorer_model("run", cfg, run, root, device="cpu")
    assert shown.label == "this run's model" and not shown.pretrained and shown.note == ""
    assert shown.dataset.split == "test" and shown.root == root
    assert "this run's model" in shown.summary()

    stand_in = Sampler.from_run_dir(run, device="cpu")
    stand_in.pretrained = {"name": "synth-tiny", "steps": {"stage1_image": 40}, "command": "x"}
    monkeypatch.setattr(store, "load_pretrained", lambda name, device="auto": stand_in)
    shown = Wd.explorer_model("pretrained", cfg, run, root, device="cpu")
    assert shown.pretrained and shown.label == "pretrained synth-tiny" and shown.sampler is stand_in
    assert shown.summary().startswith("showing pretrained synth-tiny")
    assert shown.root == root and shown.dataset.split == "test"  # the run's people: new to it

    elsewhere = tmp_path / "heldout"  # no run dataset: the held-out set (stood in for)
    import shutil
    shutil.copytree(root, elsewhere)
    monkeypatch.setattr(store, "heldout_dataset",
                        lambda cache_dir=None, cfg=None, progress=True: elsewhere)
    shown = Wd.explorer_model("pretrained", cfg, run, tmp_path / "missing", device="cpu")
    assert shown.pretrained and shown.root == elsewhere
    assert shown.data_label.startswith("held-out SynthPerson")

    other = get_preset("synth")
    shown = Wd.explorer_model("pretrained", other, run, root, device="cpu")
    assert not shown.pretrained and shown.label == "this run's model"
    assert shown.note.startswith("note: explore_model='pretrained'") and "'synth'" in shown.note
    with pytest.raises(ValueError, match="explore_model"):
        Wd.explorer_model("best", cfg, run, root)


def test_swap_check_compares_with_an_untrained_model(sampler, dataset, trained_tiny_run):
    state = torch.random.get_rng_state()
    table = Wd.swap_check(sampler, dataset, trained_tiny_run.data_root, "m", "bg", n=6)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone
    assert list(table.index) == ["m", "untrained (same architecture)"]
    assert (table["images"] == 6).all() and np.isfinite(table["ratio"]).all()
