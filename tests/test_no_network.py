"""Safety: no network at run time (the synth-tiny flow with every network entry point patched
to fail) and nothing unpickled from user files (a static scan of the library).

Sockets (``socket.socket.connect``/``connect_ex``, ``socket.create_connection``,
``socket.getaddrinfo``), ``urllib.request.urlopen``, ``torch.hub`` downloads and ``requests``
(when installed) raise :class:`NetworkUsed`. The test then runs, in this process, what the four
notebooks do for ``synth-tiny`` at tiny widths: SynthPerson generation, Stage-I (image model and
pose auto-encoder), Stage-II, sampling, and evaluation of a few test pairs. Any attempt to fetch
weights or data fails the test, and the attempt is recorded even if a caller swallows the error.
The notebooks themselves run under the pipeline tests.
"""

from __future__ import annotations

import socket
import urllib.request

import pytest
import torch

from conftest import TRAINED_TINY


class NetworkUsed(RuntimeError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    attempts: list[str] = []

    def refuse(what):
        def fn(*args, **kwargs):
            attempts.append(f"{what}{args[:2]!r}")
            raise NetworkUsed(f"network access attempted: {what} {args[:2]!r}")
        return fn

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse("urllib.request.urlopen"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse("torch.hub.download_url_to_file"))
    try:
        import requests
    except ImportError:
        pass
    else:
        monkeypatch.setattr(requests.Session, "request", refuse("requests"))
    # the patches work: a connection attempt fails loudly
    with pytest.raises(NetworkUsed):
        socket.create_connection(("example.org", 80), timeout=1)
    with pytest.raises(NetworkUsed):
        urllib.request.urlopen("https://example.org")
    attempts.clear()
    return attempts


def test_tiny_flow_runs_offline(no_network, tmp_path):
    from dpiglib.config import get_preset, write_run_config
    from dpiglib.data.datasets import PersonDataset
    from dpiglib.metrics.evaluation import evaluate_run
    from dpiglib.sampling.sampler import Sampler
    from dpiglib.training.stage1 import train_stage1
    from dpiglib.training.stage2 import train_stage2
    from dpiglib.synth.dataset import generate_synthperson

    torch.set_num_threads(1)
    cfg = get_preset("synth-tiny", **{**TRAINED_TINY, "stage1_steps": 4, "stage1_pose_ae_steps": 4,
                                      "stage2_steps": 3, "stage2_pose_steps": 3,
                                      "stage1_checkpoint_every": 4, "stage1_sample_every": 4,
                                      "stage1_val_every": 4, "stage2_checkpoint_every": 3})
    run, data = tmp_path / "run", tmp_path / "run" / "data"
    write_run_config(cfg, run)
    generate_synthperson(data, cfg.synth.identities, cfg.synth.images_per_identity,
                         cfg.synth.test_identities, size=cfg.data.image_size, seed=cfg.seed,
                         progress=False)
    for model in ("image", "pose"):
        train_stage1(cfg, data, run, device="cpu", model=model, progress=False)
    out2 = train_stage2(cfg, data, run, device="cpu", progress=False)
    assert out2["step"] == 3
    sampler = Sampler.from_run_dir(run, device="cpu", data_root=data)
    test = PersonDataset(data, "test", cfg.data, flip=False)
    imgs = sampler.generate(n=2, seed=0)
    assert imgs.shape == (2, 3, 64, 32) and torch.isfinite(imgs).all()
    assert sampler.swap(test[0], test[1], "bg").shape == (1, 3, 64, 32)
    doc = evaluate_run(run, max_pairs=4, device="cpu", sampler=sampler)
    assert doc["generation"]["pairs"] >= 1
    assert no_network == [], no_network  # nothing tried the network, even where caught


def test_nothing_is_unpickled_from_user_files():
    """Static check of the library: every ``torch.load`` passes ``weights_only=True``, no
    ``np.load(allow_pickle=True)``, and no pickle-family module is imported."""
    import ast
    from pathlib import Path

    import dpiglib

    pkg = Path(dpiglib.__file__).parent
    problems, loads = [], 0
    for path in sorted(pkg.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for m in mods:
                    if m.split(".")[0] in ("pickle", "cPickle", "dill", "joblib", "shelve", "marshal"):
                        problems.append(f"{path.name}:{node.lineno} imports {m}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = ast.unparse(node.func.value)
                kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
                if node.func.attr == "load" and owner == "torch":
                    loads += 1
                    if kw.get("weights_only") != "True":
                        problems.append(f"{path.name}:{node.lineno} torch.load without weights_only=True")
                if node.func.attr == "load" and owner in ("np", "numpy") and kw.get("allow_pickle") not in (None, "False"):
                    problems.append(f"{path.name}:{node.lineno} np.load(allow_pickle=...)")
    assert loads >= 3  # the scan does see the library's loads
    assert not problems, problems
