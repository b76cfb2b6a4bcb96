"""The figures of docs/pretrained.md, from the shipped weights and the run that trained them.

    python scripts/pretrained_figures.py --run RUN_DIR [--name synth-tiny] [--out docs/figures]

Writes ``pretrained_curves.png`` (Stage-I losses and held-out L1 from RUN_DIR/stage1),
``pretrained_samples.png`` (the trainer's last sample grid: inputs, reconstructions) and
``disentanglement.png`` (:func:`dpiglib.ui.viz.disentanglement_figure` of the shipped model on
6 contrasting people of the held-out set, which nobody trains on).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dpiglib import load_pretrained  # noqa: E402
from dpiglib.data.datasets import PersonDataset  # noqa: E402
from dpiglib.pretrained.store import heldout_dataset  # noqa: E402
from dpiglib.ui.viz import disentanglement_figure, save_figure  # noqa: E402


def curves(stage1: Path, out: Path, title: str) -> None:
    log, val = pd.read_csv(stage1 / "log.csv"), pd.read_csv(stage1 / "val.csv")
    fig, ax = plt.subplots(1, 4, figsize=(15, 3.2))
    for a, col, label in ((ax[0], "d_loss", "D loss ½[CE(D(x),1)+CE(D(x̂),0)]"),
                          (ax[1], "g_adv", "G adversarial CE(D(x̂),1)"),
                          (ax[2], "g_l1", "G L1 mean|x̂ − x| (training batch)")):
        a.plot(log["step"], log[col])
        a.set_title(label, fontsize=9)
        a.set_xlabel("step")
    ax[3].plot(val["step"], val["val_l1"], marker="o")
    ax[3].set_title(f"held-out L1 ({int(val['images'].iloc[-1])} test images)", fontsize=9)
    ax[3].set_xlabel("step")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--name", default="synth-tiny")
    p.add_argument("--out", default=Path("docs/figures"), type=Path)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    stage1 = args.run / "stage1"
    curves(stage1, args.out / "pretrained_curves.png",
           f"pretrained {args.name}: Stage-I training (the recipe in dpiglib/config.py)")
    last = sorted((stage1 / "samples").glob("step_*.png"))[-1]
    shutil.copyfile(last, args.out / "pretrained_samples.png")
    sampler = load_pretrained(args.name, device="cpu")
    root = heldout_dataset(cfg=sampler.cfg, progress=False)
    ds = PersonDataset(root, "test", sampler.cfg.data, flip=False)
    fig = disentanglement_figure(sampler, ds, n_people=6, seed=0)
    save_figure(fig, args.out / "disentanglement.png")
    print("wrote", *(args.out / n for n in ("pretrained_curves.png", "pretrained_samples.png",
                                            "disentanglement.png")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
