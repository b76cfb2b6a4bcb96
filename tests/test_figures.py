"""Library figures of notebooks 04 and 05 (dpiglib.ui.viz): what each panel shows.

The disentanglement figure is checked cell by cell against the Sampler's own renders: in a
row that changes the foreground the pose drawn is A's in every column while the foreground
source changes, in a pose row the keypoints are each column's, and the Φ rows are seeded samples.
"""

from __future__ import annotations

import numpy as np
import pytest

from dpiglib.data.datasets import to_uint8
from dpiglib.ui import viz

FACTORS = ("fg", "bg", "pose")


@pytest.fixture(scope="module")
def figure(sampler, dataset):
    import matplotlib.pyplot as plt

    fig = viz.disentanglement_figure(sampler, dataset, n_people=6, seed=3, title="model M")
    yield fig
    plt.close(fig)


def _same(shown, tensor):
    """The panel is the Sampler's render: encoding A in a batch of seven or alone differs in
    the last float bits, so one uint8 level of rounding is allowed."""
    diff = np.abs(shown.astype(int) - to_uint8(tensor).astype(int))
    return diff.max() <= 1 and diff.mean() < 0.01


def _row(fig, r):
    return sorted((c for c in fig.dpig_cells if c["row"] == r), key=lambda c: c["col"])


def test_contrasting_people_differ_in_identity_and_are_deterministic(dataset):
    picks = viz.contrasting_people(dataset, 6, seed=0)
    assert picks == viz.contrasting_people(dataset, 6, seed=0)
    assert len(set(picks)) == 6
    ids = [int(dataset.names[i].split("_")[0]) for i in picks]
    n_ids = len(dataset.identities)
    assert len(set(ids[:n_ids])) == n_ids  # every identity before any repeats
    assert viz.contrasting_people(dataset, 6, seed=1)[0] == 1


def test_disentanglement_figure_panels_and_labels(figure, dataset):
    image_axes = [ax for ax in figure.axes if ax.images]
    assert len(image_axes) == 7 * 7  # 1 real row + 3 swap rows + 3 Φ rows; A + 6 people
    assert figure._suptitle.get_text() == "model M"
    top = [ax.get_title() for ax in image_axes[:7]]
    assert top == ["A (kept)"] + [f"B{j}" for j in range(1, 7)]
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_ylabel()]
    assert labels == ["real held-out"] + [f"{f} of B\n(rest of A)" for f in FACTORS] + [
        f"{f} ~ Φ(z)\n(rest of A)" for f in FACTORS]
    assert set(figure.dpig_people) == {"A"} | {f"B{j}" for j in range(1, 7)}
    assert len(set(figure.dpig_people.values())) == 7  # seven different images
    for c in _row(figure, 0):  # row 0 shows the real held-out images themselves
        item = dataset.load(dataset.names.index(figure.dpig_people[c["sources"]["fg"]]))
        assert np.array_equal(c["image"], to_uint8(item["image"]))


def test_fg_row_keeps_the_pose_and_changes_the_appearance_source(figure, sampler, dataset):
    a = dataset.load(dataset.names.index(figure.dpig_people["A"]))
    row = _row(figure, 1)
    assert row[0]["title"] == "A rebuilt"
    assert _same(row[0]["image"], sampler.render(sampler.encode(a))[0])
    cols = row[1:]
    assert [c["varies"] for c in cols] == ["fg"] * 6
    assert [c["sources"]["fg"] for c in cols] == [f"B{j}" for j in range(1, 7)]
    assert all(c["sources"]["bg"] == "A" and c["sources"]["pose"] == "A" for c in cols)
    for c in cols:  # the pose drawn is A's in every column
        np.testing.assert_array_equal(c["rcv"], a["rcv"].numpy())
    for j, c in enumerate(cols, start=1):
        b = dataset.load(dataset.names.index(figure.dpig_people[f"B{j}"]))
        assert _same(c["image"], sampler.swap(a, b, "fg")[0])
    assert len({c["image"].tobytes() for c in cols}) > 1  # the appearance source changes


def test_pose_row_takes_each_columns_keypoints(figure, sampler, dataset):
    a = dataset.load(dataset.names.index(figure.dpig_people["A"]))
    cols = _row(figure, 3)[1:]
    assert [c["varies"] for c in cols] == ["pose"] * 6
    for j, c in enumerate(cols, start=1):
        b = dataset.load(dataset.names.index(figure.dpig_people[f"B{j}"]))
        np.testing.assert_array_equal(c["rcv"], b["rcv"].numpy())
        assert _same(c["image"], sampler.pose_transfer(a, b)[0])
    bg_cols = _row(figure, 2)[1:]
    assert all(np.array_equal(c["rcv"], a["rcv"].numpy()) for c in bg_cols)


def test_phi_rows_are_seeded_samples(figure, sampler, dataset):
    a = dataset.load(dataset.names.index(figure.dpig_people["A"]))
    for r, f in zip((4, 5, 6), FACTORS):
        cols = _row(figure, r)[1:]
        assert [c["sources"][f] for c in cols] == [f"Φ(z) #{j}" for j in range(1, 7)]
        drawn = sampler.sample_factors(6, [f], seed=3)
        want = sampler.generate(n=6, **{g: (drawn if g == f else a) for g in FACTORS})
        for j, c in enumerate(cols):
            assert _same(c["image"], want[j]), (f, j)
        if f != "pose":
            assert all(np.array_equal(c["rcv"], a["rcv"].numpy()) for c in cols)
        else:
            np.testing.assert_allclose(np.stack([c["rcv"] for c in cols]), drawn.rcv.numpy())


def test_disentanglement_figure_is_deterministic_and_takes_names(figure, sampler, dataset):
    import matplotlib.pyplot as plt

    names = list(figure.dpig_people.values())
    again = viz.disentanglement_figure(sampler, dataset, names=names, seed=3)
    try:
        assert [c["image"].tobytes() for c in again.dpig_cells] == [
            c["image"].tobytes() for c in figure.dpig_cells]
        assert again._suptitle.get_text().startswith("model: each row keeps two factors of A")
    finally:
        plt.close(again)
    with pytest.raises(ValueError, match="not an image"):
        viz.disentanglement_figure(sampler, dataset, names=[names[0], "nobody.png"])
    table = viz.disentanglement_table(figure)
    assert len(table) == 7 and list(table.columns) == ["varies", "spread", "change from A"]
    assert table.loc["fg of B (rest of A)", "varies"] == "fg"
    assert (table["spread"] >= 0).all()


def test_show_pose_beside_never_draws_over_an_image(dataset):
    import matplotlib.pyplot as plt

    items = [dataset.load(i) for i in range(3)]
    fig = viz.show_pose_beside([it["image"] for it in items], [it["rcv"] for it in items],
                               titles=["a", "b", "c"])
    try:
        axes = [ax for ax in fig.axes if ax.images]
        assert len(axes) == 6
        images, poses = axes[0::2], axes[1::2]
        assert [ax.get_title() for ax in images] == ["a", "b", "c"]
        for ax, it in zip(images, items):
            assert not ax.lines and not ax.collections  # the image panel is untouched
            assert np.array_equal(np.asarray(ax.images[0].get_array()), to_uint8(it["image"]))
        for ax in poses:
            assert ax.lines and ax.collections  # skeleton and keypoints, beside the image
    finally:
        plt.close(fig)


def test_evaluation_examples_are_chosen_by_what_they_show(trained_tiny_run, dataset, tmp_path):
    """Four different pairs, one per reason; the background rows are the extremes of the
    background difference (not ranked by SSIM)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from dpiglib.data.annotations import find_dataset_files, read_pairs_csv
    from dpiglib.metrics.io import default_name_fn

    root = trained_tiny_run.data_root
    pairs = read_pairs_csv(find_dataset_files(root, "test", "synth").pairs)[:12]
    gen = tmp_path / "generated"
    gen.mkdir()
    (gen / "pairs.csv").write_text("from,to\n" + "".join(f"{a},{b}\n" for a, b in pairs))
    for a, b in pairs:  # the "model" hands back its source: copy ssim == ssim
        Image.open(root / "test" / a).convert("RGB").save(gen / default_name_fn(a, b))
    doc = {"generation": {"out_dir": str(gen), "target_dir": str(root / "test")}}
    fig, table, scored = viz.evaluation_examples(doc, root, trained_tiny_run.cfg.data,
                                                 title="model M")
    try:
        assert list(table.index) == ["typical (median SSIM)", "largest pose change",
                                     "most different backgrounds", "most similar backgrounds"]
        assert len(set(zip(table.source, table.target))) == 4
        np.testing.assert_allclose(table["ssim"], table["copy ssim"])
        assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()][1] == "largest pose change"
        assert fig._suptitle.get_text() == "model M"
        assert len([ax for ax in fig.axes if ax.images]) == 12
    finally:
        plt.close(fig)
    d = table["background difference"]
    assert len(scored) == len(pairs)
    bgs = sorted(scored["background difference"])  # each reason takes the best pair not yet shown
    assert d["most different backgrounds"] >= bgs[-3] and d["most similar backgrounds"] <= bgs[3]
    assert table.loc["largest pose change", "pose change"] >= sorted(scored["pose change"])[-2]
