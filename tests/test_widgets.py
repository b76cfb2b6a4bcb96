"""Explorer callbacks (dpiglib.ui.widgets) driven without a browser, and the widget wiring."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from dpiglib.ui import widgets as Wd
from dpiglib.data.datasets import PersonDataset
from dpiglib.sampling.sampler import Sampler, Stage2MissingError
from dpiglib.training.stage1 import load_stage1

H, W = 64, 32


@pytest.fixture(scope="module")
def sampler(trained_tiny_run):
    return Sampler.from_run_dir(trained_tiny_run.run_dir, device="cpu")


@pytest.fixture(scope="module")
def dataset(trained_tiny_run, sampler):
    return PersonDataset(trained_tiny_run.data_root, "test", sampler.cfg.data, flip=False)


def test_resample_changes_only_with_the_seed(sampler, dataset):
    st = Wd.new_state(sampler, dataset, seed=0)
    assert st.sources == {"fg": ("sample", 0), "bg": ("sample", 0), "pose": ("real", 0)}
    base = Wd.render_explorer(st)
    assert base.dtype == np.uint8 and base.shape == (H * 3, (4 * W + 6) * 3, 3)
    Wd.resample(st, "fg", 5)
    changed = Wd.render_explorer(st)
    assert not np.array_equal(base, changed)
    Wd.resample(st, "fg", 0)
    assert np.array_equal(base, Wd.render_explorer(st))
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
    assert Wd.render_explorer(st).shape[0] == H * 3
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
    """(suptitle, [(axis title, image array)]) of a figure made by viz.image_grid."""
    return (fig._suptitle.get_text() if fig._suptitle is not None else "",
            [(ax.get_title(), np.asarray(ax.images[0].get_array()))
             for ax in fig.axes if ax.images])


def test_static_views_show_the_explorers_images(sampler, dataset):
    """Each figure shows what its title says: the explorer strip per resampled factor and seed,
    the wrist moves, the interpolation 0 → 1 and the inversion, image for image."""
    import matplotlib.pyplot as plt

    figs = Wd.static_views(sampler, dataset, seed=0, n=2)
    try:
        (sup0, cells0), (sup1, cells1), (sup2, cells2), (sup3, cells3) = map(_shown, figs)
    finally:
        for f in figs:
            plt.close(f)
    assert sup0 == "explorer: " + " | ".join(Wd.PANEL_TITLES)
    assert [t for t, _ in cells0] == [f"resample {f}, seed {k}"
                                      for f in ("fg", "bg", "pose") for k in (0, 1)]
    for (title, img), (f, k) in zip(cells0, [(f, k) for f in ("fg", "bg", "pose") for k in (0, 1)]):
        st = Wd.resample(Wd.new_state(sampler, dataset, seed=0), f, k)
        assert np.array_equal(img, Wd.render_explorer(st, scale=1)), title
    for i in (0, 2, 4):  # the two seeds of a factor give two people / poses
        assert not np.array_equal(cells0[i][1], cells0[i + 1][1]), cells0[i][0]

    assert sup1 == "per-joint pose sliders"
    assert [t for t, _ in cells1] == ["wrists −6 px", "as is", "wrists +6 px"]
    left, as_is, right = (img for _, img in cells1)
    assert np.array_equal(as_is, Wd.render_explorer(Wd.new_state(sampler, dataset, seed=0), scale=1))
    sources = slice(0, 2 * W + 2)  # the fg and bg source panels do not follow the pose
    pose_and_output = slice(2 * (W + 2), None)
    for moved in (left, right):
        assert np.array_equal(moved[:, sources], as_is[:, sources])
        assert not np.array_equal(moved[:, pose_and_output], as_is[:, pose_and_output])

    assert sup2 == "interpolation 0 → 1 (embedding, linear)"
    ((_, strip),) = cells2
    expect = Wd.interpolation_strip(Wd.new_state(sampler, dataset, seed=0), 0, 1, n=6)
    assert strip.shape == (H, 6 * W, 3) and np.array_equal(strip, expect)

    assert sup3.startswith("inversion: real | encoder | Φ(z*) (residual fg ")
    assert ", bg " in sup3 and ", pose " in sup3
    ((_, inv),) = cells3
    from dpiglib.data.datasets import to_uint8
    assert inv.shape == (H, 3 * W, 3) and np.array_equal(inv[:, :W], to_uint8(dataset[0]["image"]))


def test_static_views_without_stage2_use_real_images_and_skip_the_inversion(trained_tiny_run,
                                                                            dataset):
    import matplotlib.pyplot as plt

    s1, pae, cfg = load_stage1(trained_tiny_run.run_dir)
    figs = Wd.static_views(Sampler(s1, pae, None, cfg), dataset, seed=0, n=2)
    try:
        shown = [_shown(f) for f in figs]
    finally:
        for f in figs:
            plt.close(f)
    assert [sup.split(" ")[0] for sup, _ in shown] == ["explorer:", "per-joint", "interpolation"]
    assert [t for t, _ in shown[0][1]] == [f"{f} from real image {k}"
                                           for f in ("fg", "bg", "pose") for k in (0, 1)]
