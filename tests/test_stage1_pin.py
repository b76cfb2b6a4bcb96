"""Pin test: the Stage-I trainer's numbers are frozen by a golden file.

The golden file was written by this module (``python tests/test_stage1_pin.py --record``) from
the trainer *before* its training step was rewritten as :func:`stage1_step`: 20 CPU steps on one
thread, ``amp="off"``, the logged losses of every step and a sha256 of the final weights. A
refactor of the step, the trainer or the data path that changes any number fails here.

On the machine that wrote the file (same CPU model, torch version and platform) the weights must
be bit-identical; elsewhere floating-point kernels may differ in the last bits, so the losses must
agree to 1e-6 relative.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

GOLDEN = Path(__file__).parent / "golden" / "stage1_pin.json"
LOSSES = ["d_loss", "g_adv", "g_l1", "g_total", "masked_l1"]


def machine_fingerprint() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "torch": torch.__version__, "platform": platform.platform(),
            "python": platform.python_version()}


def weights_sha256(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_pinned(tmp: Path) -> dict:
    """20 Stage-I steps of a width-8 synth-tiny model on the fixture dataset, one thread."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_stage1 import make_fixture_dataset, tiny_cfg

    from dpiglib.training.stage1 import train_stage1

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = make_fixture_dataset(tmp / "data")
        cfg = tiny_cfg(stage1_steps=20, stage1_log_every=1, stage1_checkpoint_every=20,
                       stage1_sample_every=20, stage1_val_every=20, stage1_amp="off")
        res = train_stage1(cfg, root, tmp / "run", device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    log = pd.read_csv(tmp / "run" / "stage1" / "log.csv")
    return {"steps": log["step"].tolist(),
            "losses": {k: [None if np.isnan(v) else float(v) for v in log[k]] for k in LOSSES},
            "weights_sha256": weights_sha256(res["model"]),
            "machine": machine_fingerprint()}


@pytest.mark.slow
def test_stage1_numbers_match_the_golden_file(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    got = run_pinned(tmp_path)
    assert got["steps"] == golden["steps"] == list(range(1, 21))
    for k in LOSSES:
        want, have = golden["losses"][k], got["losses"][k]
        assert [w is None for w in want] == [h is None for h in have], k
        w = np.array([np.nan if v is None else v for v in want])
        h = np.array([np.nan if v is None else v for v in have])
        np.testing.assert_allclose(h, w, rtol=1e-6, atol=0, equal_nan=True, err_msg=k)
    if got["machine"] == golden["machine"]:
        assert got["weights_sha256"] == golden["weights_sha256"]


if __name__ == "__main__" and "--record" in sys.argv:
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = run_pinned(Path(d))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {GOLDEN}: {out['weights_sha256']}")
