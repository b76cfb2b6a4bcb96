"""DDP: two CPU processes (gloo) train Stage-I on different shards and stay identical."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from dpiglib.core.checkpoint import weights_fingerprint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, data_root: str, out_dir: str, model: str,
            results: str) -> None:
    # what torchrun would set; train_stage1 then joins the group with the gloo backend
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from test_stage1 import tiny_cfg  # noqa: PLC0415  (tests dir is on the child's sys.path)

    from dpiglib.training.stage1 import train_stage1

    cfg = tiny_cfg(stage1_batch_size=2, stage1_steps=4, stage1_checkpoint_every=4,
                   stage1_pose_ae_batch_size=2, stage1_pose_ae_steps=4)
    out = train_stage1(cfg, data_root, out_dir, device="cpu", model=model, progress=False)
    params = {k: v for k, v in out["model"].named_parameters()}
    with open(os.path.join(results, f"rank{rank}.json"), "w") as f:
        json.dump({"params": weights_fingerprint(params), "steps": out["step"]}, f)


@pytest.mark.parametrize("model", ["image", "pose"])
def test_two_process_gloo_replicas_identical(tmp_path, model):
    from test_stage1 import make_fixture_dataset

    data = make_fixture_dataset(tmp_path / "data")
    results = tmp_path / "results"
    results.mkdir()
    try:
        mp.spawn(_worker, args=(2, _free_port(), str(data), str(tmp_path / "run"), model,
                                str(results)), nprocs=2, join=True)
    except mp.ProcessExitedException as e:  # say whether it died in training or at teardown
        done = sorted(p.name for p in results.glob("rank*.json"))
        raise AssertionError(f"{e}; result files written before it: {done or 'none'}") from e
    r0, r1 = (json.loads((results / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["steps"] == r1["steps"] == 4
    assert r0["params"] == r1["params"]  # gradients were all-reduced every step
    ck = "checkpoints" if model == "image" else "pose_checkpoints"
    assert (tmp_path / "run" / "stage1" / ck / "latest.pt").exists()  # rank 0 wrote it
