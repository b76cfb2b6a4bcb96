"""Stage-II ``wgan-clip`` with TensorFlow's RMSProp (the kit's) against ``torch.optim.RMSprop``.

The measurement behind docs/design.md ("Stage-II RMSProp is TensorFlow's"): one factor's
:class:`dpiglib.training.stage2.FactorTrainer` at the ``synth`` preset's Φ/critic sizes, lr and critic
steps, learning a fixed 224-d correlated Gaussian (8,192 samples). Every STEPS/5 Φ steps it prints
the critic's Wasserstein estimate, and the Fréchet distance and mean distance of 2,048 Φ(z)
samples (fixed z) to the target.

    python scripts/compare_rmsprop.py [STEPS]      # default 1000; ~2 min per optimiser on 1 thread
"""

from __future__ import annotations

import sys
import time

import torch

from dpiglib.training import stage2
from dpiglib.config import get_preset
from dpiglib.training.embedding_check import embedding_statistics
from dpiglib.models.mapping import build_critics, build_mapping_networks


def _torch_rmsprop(trainer: stage2.FactorTrainer, module: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(module.parameters(), lr=trainer.s2.lr, alpha=0.9, eps=1e-10)


def main(steps: int = 1000) -> None:
    torch.set_num_threads(1)
    cfg = get_preset("synth")
    dim = 224
    g = torch.Generator().manual_seed(0)
    mu = 0.5 * torch.randn(dim, generator=g)
    mix = torch.randn(dim, dim, generator=g) / dim ** 0.5
    real = mu + 0.5 * torch.randn(8192, dim, generator=g) @ mix.T
    z = torch.randn(2048, dim, generator=torch.Generator().manual_seed(5)) * cfg.stage2.noise_std
    for name in ("TFRMSprop (kit)", "torch.optim.RMSprop"):
        torch.manual_seed(0)
        phi, critic = build_mapping_networks(cfg.model)["fg"], build_critics(cfg.model)["fg"]
        trainer_cls = stage2.FactorTrainer
        if name.startswith("torch"):
            trainer_cls = type("TorchRMSpropTrainer", (stage2.FactorTrainer,),
                               {"_optimiser": _torch_rmsprop})
        t = trainer_cls("fg", phi, critic, real, cfg.stage2, cfg.stage2.batch_size, seed=0)
        t0, rows = time.time(), []
        for it in range(steps):
            out = t.step(it)
            if (it + 1) % max(1, steps // 5) == 0:
                with torch.no_grad():
                    st = embedding_statistics(real[:2048], phi(z), max_samples=500,
                                              generator=torch.Generator().manual_seed(1))
                rows.append(f"step {it + 1}: wdist {out['wdist'].item():.2e} "
                            f"FD {st['frechet']:.2f} mean_dist {st['mean_dist']:.2f}")
        print(f"{name} ({time.time() - t0:.0f} s)\n  " + "\n  ".join(rows), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
