"""Looking inside Stage-I: tensor shapes along the data flow, a branch diagram, honest baselines.

Used by notebook 02 to show a student what each branch does (orig §3.1-3.4) and to put the
trained model's reconstruction scores next to two baselines that need no learning:
the *untrained* model (same architecture, initial weights) and the *mean image* of the training
split (the best constant prediction under L2, a strong one for L1 on aligned pedestrians).
Also the GAN-balance table of notebook 02, the spread of Φ(z) and the embedding figure of
notebook 03, and a block that keeps native libraries' stderr out of a notebook (notebook 01).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch

__all__ = ["trace_shapes", "reconstruction_table", "pose_swap", "mean_image", "architecture_figure",
           "save_stage1_summary", "stage1_loss_summary", "embedding_spread",
           "embedding_check_figure"]


def _shape(t: Any) -> str:
    if isinstance(t, torch.Tensor):
        return "×".join(str(s) for s in t.shape)
    if isinstance(t, (tuple, list)):
        return ", ".join(_shape(x) for x in t if x is not None)
    return "-"


@torch.no_grad()
def trace_shapes(model, batch: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Run one reconstruction and record the output shape of each stage.

    Args:
        model: a :class:`dpiglib.models.stage1.Stage1Model`.
        batch: a prepared batch (``data.prepare_batch``) with image, boxes, box_vis, heatmap, mask.

    Returns:
        DataFrame with columns ``stage``, ``module``, ``output shape`` in execution order
        (batch dimension first, PyTorch's channels-first layout).
    """
    rows: list[tuple[str, str, str]] = []
    hooks = []
    enc, gen = model.encoder, model.generator
    named = [
        ("encoder stem (conv + ResBlock)", "encoder.stem", enc.stem),
        ("part pyramid (7·B crops)", "encoder.foreground.pyramid", enc.foreground.pyramid),
        ("part FC → e_fg per part", "encoder.foreground.fc", enc.foreground.fc),
    ]
    if enc.background is not None:
        named += [
            ("background pyramid", "encoder.background.pyramid", enc.background.pyramid),
            ("background FC → e_bg", "encoder.background.fc", enc.background.fc),
        ]
    named += [
        ("generator input conv", "generator.in_conv", gen.in_conv),
        ("generator encoder pyramid", "generator.pyramid", gen.pyramid),
        ("FC bottleneck z", "generator.fc_down", gen.fc_down),
        ("FC up (reshaped to h0×w0×n)", "generator.fc_up", gen.fc_up),
        ("output conv → image", "generator.out_conv", gen.out_conv),
    ]
    for label, name, mod in named:
        hooks.append(mod.register_forward_hook(
            lambda m, i, o, label=label, name=name: rows.append((label, name, _shape(o)))))
    try:
        model.eval()
        model.reconstruct(batch["image"], batch["boxes"], batch["box_vis"], batch["heatmap"], batch["mask"])
    finally:
        for h in hooks:
            h.remove()
    b = batch["image"]
    head = [("input image", "batch['image']", _shape(b)),
            ("pose heatmap (18 disks)", "batch['heatmap']", _shape(batch["heatmap"])),
            ("pose mask", "batch['mask']", _shape(batch["mask"]))]
    return pd.DataFrame(head + rows, columns=["stage", "module", "output shape"])


def mean_image(dataset, limit: int | None = None) -> torch.Tensor:
    """Pixel-wise mean (3, H, W) in [−1, 1] of a dataset's images (unflipped)."""
    n = len(dataset) if limit is None else min(limit, len(dataset))
    acc = None
    for i in range(n):
        img = dataset[i]["image"].double()
        acc = img if acc is None else acc + img
    return (acc / n).float()


@torch.no_grad()
def reconstruction_table(trained, untrained, batch: dict[str, torch.Tensor], mean_img: torch.Tensor) -> pd.DataFrame:
    """L1 and SSIM of reconstructions on held-out images: trained vs untrained vs mean image.

    L1 is ``mean|x̂ − x|`` in [−1, 1] units (the training loss's term, orig §3.6); SSIM is the
    validation monitor of :func:`dpiglib.training.stage1.reconstruction_ssim` (Gaussian, colour). The
    numbers are on few images: they compare models, they are not a benchmark.
    """
    from dpiglib.training.stage1 import reconstruction_ssim

    x = batch["image"]
    rows = []
    for label, model in (("trained", trained), ("untrained (initial weights)", untrained)):
        model.eval()
        y = model.reconstruct(x, batch["boxes"], batch["box_vis"], batch["heatmap"], batch["mask"]).float()
        rows.append((label, (y - x).abs().mean().item(), reconstruction_ssim(x, y).mean().item()))
    m = mean_img.to(x.device).expand_as(x)
    rows.append(("mean training image", (m - x).abs().mean().item(), reconstruction_ssim(x, m).mean().item()))
    df = pd.DataFrame(rows, columns=["model", "L1 (lower is better)", "SSIM (higher is better)"])
    df["images"] = x.shape[0]
    return df


@torch.no_grad()
def pose_swap(model, batch: dict[str, torch.Tensor], shift: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Does the model use the pose? ``(reconstruction, swapped)``, where ``swapped`` draws each
    image's appearance and background in the pose of the image ``shift`` places further on
    (``heatmap.roll(shift)``: −1 = the next image's pose). A model that ignores the heatmaps
    gives ``swapped ≈ reconstruction`` (mean |Δ| ≈ 0.01 on SynthPerson, docs/presets.md)."""
    model.eval()
    args = (batch["image"], batch["boxes"], batch["box_vis"])
    rec = model.reconstruct(*args, batch["heatmap"], batch["mask"])
    swapped = model.reconstruct(*args, batch["heatmap"].roll(shift, dims=0), batch["mask"])
    return rec, swapped


def architecture_figure(model_cfg):
    """A block diagram of Stage-I (orig §3): three factors in, one image out, with sizes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    H, W, n = model_cfg.image_height, model_cfg.image_width, model_cfg.width
    bg, D = model_cfg.background_dim, model_cfg.embedding_dim
    L = model_cfg.generator_levels
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4.2)
    ax.axis("off")

    def box(x, y, w, h, text, colour):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.04", fc=colour, ec="black", lw=0.8))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=7.5)

    def arrow(x0, y0, x1, y1):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=9, lw=0.8))

    box(0.1, 1.7, 1.3, 0.8, f"image x\n{H}×{W}×3", "#dddddd")
    box(1.8, 1.7, 1.5, 0.8, f"stem\nconv + ResBlock\n{H}×{W}×{n}", "#cfe2f3")
    box(3.7, 2.9, 2.0, 0.9, f"× pose mask\n7 part crops {model_cfg.roi_size}²\npyramid → 7×{model_cfg.part_dim}",
        "#d9ead3")
    if bg:
        box(3.7, 1.55, 2.0, 0.9, f"× (1 − mask)\nbackground pyramid\n→ {bg}-d", "#fce5cd")
    box(3.7, 0.2, 2.0, 0.9, "keypoints → 18 disk\nheatmaps (not learned)", "#fff2cc")
    box(6.1, 2.2, 1.4, 0.9, f"concat e_fg{'+e_bg' if bg else ''}\n= {D}-d, tiled\n{H}×{W}×{D}", "#ead1dc")
    box(7.8, 1.4, 1.2, 1.4, f"U-Net\n{L} levels\nFC {model_cfg.bottleneck_dim}-d\nbottleneck", "#d0e0e3")
    box(9.15, 1.7, 0.8, 0.8, "x̂\n(L1 + GAN)", "#dddddd")
    arrow(1.4, 2.1, 1.8, 2.1)
    arrow(3.3, 2.3, 3.7, 3.3)
    if bg:
        arrow(3.3, 2.1, 3.7, 2.0)
    arrow(5.7, 3.3, 6.1, 2.8)
    if bg:
        arrow(5.7, 2.0, 6.1, 2.5)
    arrow(7.5, 2.6, 7.8, 2.3)
    arrow(5.7, 0.65, 7.8, 1.7)
    arrow(9.0, 2.1, 9.15, 2.1)
    ax.text(0.1, 3.95, "Stage-I: foreground, background and pose branches reconstruct the input (orig §3)",
            fontsize=9, weight="bold")
    ax.text(0.1, 0.05, "the pose auto-encoder (54-d keypoints ↔ 32-d) is trained separately (orig §3.7)",
            fontsize=7, style="italic")
    plt.close(fig)  # shown once, as the cell's value
    return fig


def save_stage1_summary(run_dir, table: pd.DataFrame, image_run: dict, pose_run: dict | None = None):
    """Write ``RUN_DIR/stage1/summary.json`` (the pipeline's report reads its key metrics)."""
    from pathlib import Path

    from dpiglib.core.fileio import atomic_write_json

    rows = {r["model"].split(" ")[0]: r for r in table.to_dict("records")}
    summary = {
        "steps": image_run.get("step"),
        "steps_per_s": image_run.get("steps_per_s"),
        "heldout_images": int(table["images"].iloc[0]),
        "heldout_l1": rows["trained"]["L1 (lower is better)"],
        "heldout_ssim": rows["trained"]["SSIM (higher is better)"],
        "untrained_l1": rows["untrained"]["L1 (lower is better)"],
        "untrained_ssim": rows["untrained"]["SSIM (higher is better)"],
        "mean_image_l1": rows["mean"]["L1 (lower is better)"],
        "mean_image_ssim": rows["mean"]["SSIM (higher is better)"],
    }
    if pose_run is not None:
        summary["pose_ae_steps"] = pose_run.get("step")
        val = pose_run.get("val") or {}
        if isinstance(val, dict) and "val_pose_loss" in val:
            summary["pose_ae_val_loss"] = val["val_pose_loss"]
    atomic_write_json(Path(run_dir) / "stage1" / "summary.json", summary, default=float)
    return summary


def stage1_loss_summary(log, lambda_l1: float) -> pd.DataFrame:
    """The first and last rows of a Stage-I ``log.csv``, read as a GAN (notebook 02).

    Columns: ``d_loss`` and ``g_adv`` as logged; ``λ·g_l1`` (the weighted L1 term of G's loss);
    ``adversarial share`` = g_adv / (g_adv + λ·g_l1), the part of G's loss that comes from D;
    ``D's p(real) on x̂`` = exp(−g_adv), the geometric mean over the logged steps' batches of the
    probability D gives a reconstruction of being real (g_adv = mean −log σ(D(x̂)), orig §3.6).

    Args:
        log: path of ``stage1/log.csv`` or its DataFrame.
        lambda_l1: the run's ``cfg.stage1.lambda_l1``.
    """
    import math
    from pathlib import Path

    df = pd.read_csv(log) if isinstance(log, (str, Path)) else log
    df = df.dropna(subset=["d_loss", "g_adv", "g_l1"])
    rows = []
    for label, r in (("first", df.iloc[0]), ("last", df.iloc[-1])):
        weighted = lambda_l1 * r["g_l1"]
        rows.append({"logged row": f"{label}, step {int(r['step'])}", "d_loss": r["d_loss"],
                     "g_adv": r["g_adv"], "λ·g_l1": weighted,
                     "adversarial share": r["g_adv"] / (r["g_adv"] + weighted),
                     "D's p(real) on x̂": math.exp(-r["g_adv"])})
    return pd.DataFrame(rows).set_index("logged row")


def _spread(x) -> float:
    """Root-mean-square distance of the rows of ``x`` (N, D) to their mean: sqrt(tr Σ)."""
    t = torch.as_tensor(x).detach().to("cpu", torch.float64)
    return float((t - t.mean(0)).pow(2).sum(1).mean().sqrt())


def embedding_spread(real: dict, fake: dict, init: dict | None = None) -> pd.DataFrame:
    """How wide is Φ(z) compared with the real embeddings? One row per factor (notebook 03).

    The spread of a sample is its root-mean-square distance to its own mean, sqrt(tr Σ) (the
    total standard deviation over every dimension). ``ratio`` = spread of Φ(z) / spread of the
    real sample: 1 is the real width, above 1 wider, below 1 narrower (towards one point).

    Args:
        real, fake, init: factor → (N, D) samples, e.g. from
            :func:`dpiglib.training.stage2.embedding_check_samples` (``init`` optional: Φ at
            initialisation, the baseline that learned nothing).
    """
    rows = []
    for f in real:
        row = {"factor": f, "dims": int(torch.as_tensor(real[f]).shape[1]),
               "real spread": _spread(real[f]), "Φ(z) spread": _spread(fake[f])}
        row["ratio Φ/real"] = row["Φ(z) spread"] / row["real spread"]
        if init is not None:
            row["ratio at init"] = _spread(init[f]) / row["real spread"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("factor")


def embedding_check_figure(real: dict, fake: dict, init: dict | None = None):
    """:func:`dpiglib.ui.viz.plot_embedding_check`, detached from pyplot so a notebook shows it
    once (as the cell's value)."""
    import matplotlib.pyplot as plt

    from dpiglib.ui import viz

    fig = viz.plot_embedding_check(real, fake, init)
    plt.close(fig)
    return fig
