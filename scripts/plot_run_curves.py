"""Plot a Stage-I run's log.csv / val.csv as one figure (used for docs/synth_gpu_run/curves.png).

    python scripts/plot_run_curves.py RUN_STAGE1_DIR OUT.png [--title TEXT]

RUN_STAGE1_DIR holds the trainer's log.csv and (optionally) val.csv.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dpiglib.ui.viz import save_figure  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--title", default="steps/s (200-step window)")
    ap.add_argument("--target", type=float, default=17.0, help="steps/s target line (0: none)")
    args = ap.parse_args(argv)
    log = pd.read_csv(args.run / "log.csv")
    val_path = args.run / "val.csv"
    val = pd.read_csv(val_path) if val_path.exists() else None

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
    for c in ("d_loss", "g_adv"):
        ax[0].plot(log.step, log[c], label=c)
    ax[0].set_title("adversarial losses")
    ax[0].legend()
    for c in ("g_l1", "masked_l1"):
        ax[1].plot(log.step, log[c], label=c)
    handles = []
    if val is not None:
        ax[1].plot(val.step, val.val_l1, "o-", label=f"val L1 ({int(val.images.iloc[0])} held-out)")
        twin = ax[1].twinx()
        handles = twin.plot(val.step, val.val_ssim, "s--", color="tab:red", label="val SSIM")
        twin.set_ylabel("val SSIM", color="tab:red")
    h, lab = ax[1].get_legend_handles_labels()
    ax[1].legend(h + handles, lab + [x.get_label() for x in handles], loc="center right", fontsize=8)
    ax[1].set_title("reconstruction L1 / SSIM")
    ax[2].plot(log.step, log.steps_per_s, label="steps/s")
    if args.target:
        ax[2].axhline(args.target, color="k", ls="--", lw=1, label=f"target {args.target:g}")
    ax[2].set_ylim(0, max(log.steps_per_s.max(), args.target) * 1.1)
    ax[2].set_title(args.title)
    ax[2].legend(loc="lower right")
    for a in ax:
        a.set_xlabel("step")
    fig.tight_layout()
    print(save_figure(fig, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
