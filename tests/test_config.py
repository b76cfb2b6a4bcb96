"""Presets, flat overrides and the run-dir config file."""
from __future__ import annotations

import json

import pytest

from dpiglib.config import (PRESET_NAMES, ConfigError, config_from_dict, config_to_dict, flat_parameters,
                            get_preset, resolve_run_config)


def test_presets_exist_and_round_trip():
    assert PRESET_NAMES == ("synth-tiny", "synth", "market", "deepfashion")
    for name in PRESET_NAMES:
        cfg = get_preset(name)
        assert cfg.preset == name
        assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg
        assert cfg.model.image_size == cfg.data.image_size


def test_paper_numbers():
    m, d = get_preset("market"), get_preset("deepfashion")
    assert m.stage1.lr == 2e-5 and (m.stage1.beta1, m.stage1.beta2) == (0.5, 0.999)
    assert m.stage1.lambda_l1 == 20 and m.stage1.lr_halve_every == 50_000
    assert m.stage1.batch_size == 16 and m.stage1.steps == 120_000
    assert d.stage1.batch_size == 6 and d.data.image_size == (256, 256)
    assert m.model.embedding_dim == 352 and d.model.embedding_dim == 224
    assert m.stage2.objective == "wgan-clip" and m.stage2.critic_steps == 5 and m.stage2.clip == 0.01
    assert m.stage2.noise_std == 0.2
    assert m.data.mask_radius == 7 and m.data.heatmap_radius == 4


def test_tiny_preset_scales_radii():
    t = get_preset("synth-tiny")
    assert t.data.image_size == (64, 32)
    assert t.data.heatmap_radius == 2 and t.data.mask_radius == 4
    assert t.model.roi_size == 24 and t.model.generator_levels == 4 and t.model.disc_head == "clean"


def test_overrides_are_typed_and_validated():
    cfg = get_preset("synth-tiny", stage1_steps="250", seed=4, model_width=16, data_flip="false")
    assert cfg.stage1.steps == 250 and cfg.seed == 4 and cfg.model.width == 16 and cfg.data.flip is False
    with pytest.raises(ConfigError, match="unknown preset 'nope'.*synth-tiny"):
        get_preset("nope")
    with pytest.raises(ConfigError, match="unknown parameter.*'stage1_stepz'.*stage1_steps"):
        get_preset("synth-tiny", stage1_stepz=3)
    with pytest.raises(ConfigError, match="stage1_steps.*expects int"):
        get_preset("synth-tiny", stage1_steps="many")
    with pytest.raises(ConfigError, match="stage1_steps.*expects int"):
        get_preset("synth-tiny", stage1_steps=2.5)
    with pytest.raises(ConfigError, match="must be one of"):
        get_preset("synth-tiny", stage2_objective="wgan-xx")
    assert "synth_identities" in flat_parameters() and "eval_pairs" in flat_parameters()


def test_image_size_override_keeps_model_in_step():
    cfg = get_preset("synth-tiny", data_image_height=128, data_image_width=64)
    assert cfg.model.image_size == (128, 64)


def test_resolve_run_config_writes_and_reuses(tmp_path):
    cfg = resolve_run_config("synth-tiny", tmp_path, seed=7, synth_identities=5, stage1_steps=None)
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["config"]["seed"] == 7 and stored["config"]["synth"]["identities"] == 5
    again = resolve_run_config("synth-tiny", tmp_path)
    assert again == cfg
    with pytest.raises(ConfigError, match="preset 'synth-tiny', not 'market'"):
        resolve_run_config("market", tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ConfigError, match="not a valid dpiglib config"):
        resolve_run_config("synth-tiny", tmp_path)


def test_num_workers_auto_resolves_per_device():
    """-1 (the default) means 0 workers on CPU/MPS (2-core machines load faster in-process) and
    up to 6 on CUDA, leaving two cores to the main process; explicit counts are kept."""
    import torch

    from dpiglib.core.runtime import resolve_num_workers

    assert get_preset("synth-tiny").data.num_workers == -1
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_num_workers(-1, cpu, cpu_count=16) == 0
    assert resolve_num_workers(-1, torch.device("mps"), cpu_count=16) == 0
    assert resolve_num_workers(-1, cuda, cpu_count=16) == 6
    assert resolve_num_workers(-1, cuda, cpu_count=4) == 2
    assert resolve_num_workers(-1, cuda, cpu_count=2) == 0
    assert resolve_num_workers(3, cpu) == 3 and resolve_num_workers(0, cuda) == 0
    with pytest.raises(ValueError, match="num_workers"):
        resolve_num_workers(-2, cpu)


def test_every_synth_style_is_a_valid_choice_everywhere(tmp_path):
    """The synth-tiny preset renders "simple": the config and data_prep.synth accept it too."""
    from data_prep.synth import build_parser
    from dpiglib.synth.renderer import STYLES

    assert get_preset("synth-tiny").synth.style == "simple"
    for style in STYLES:
        assert get_preset("synth-tiny", synth_style=style).synth.style == style
        args = build_parser().parse_args(["--out", str(tmp_path), "--identities", "1",
                                          "--images-per-identity", "1", "--style", style])
        assert args.style == style
    with pytest.raises(ConfigError, match="synth_style.*market, deepfashion, simple"):
        get_preset("synth-tiny", synth_style="cartoon")


def test_loss_weights_clip_and_noise_std_have_no_defaults_outside_the_config():
    """λ_L1, λ_pose, the clip value, λ_GP and σ of z live in config.py only: the functions that use
    them take them from the caller (cfg.stage1.lambda_l1, cfg.stage2.noise_std, ...), so no second
    copy of a number can drift from the config."""
    import inspect

    from dpiglib.sampling import latent
    from dpiglib.models import losses, mapping
    from dpiglib.training import stage2

    needed = {losses.stage1_generator_loss: "lambda_l1", losses.pose_ae_loss: "lambda_pose",
              losses.clip_weights_: "c", losses.gradient_penalty: "weight",
              mapping.sample_noise: "std", stage2.Stage2Model: "noise_std",
              latent.invert_mapping: "noise_std"}
    for fn, name in needed.items():
        default = inspect.signature(fn).parameters[name].default
        assert default is inspect.Parameter.empty, f"{fn.__qualname__}({name}={default})"
    assert not hasattr(mapping, "NOISE_STD")


def test_the_image_size_is_stored_once():
    """DataConfig holds the size; the model's copy follows it and is never a parameter or
    written out, so the two cannot disagree (they were synced one way only before)."""
    from dpiglib.config import config_from_dict, config_to_dict

    cfg = get_preset("synth-tiny", data_image_height=128, data_image_width=64)
    assert cfg.model.image_size == cfg.data.image_size == (128, 64)
    assert "model_image_height" not in flat_parameters(cfg)
    with pytest.raises(ConfigError, match="model_image_height"):
        get_preset("synth-tiny", model_image_height=32)
    d = config_to_dict(cfg)
    assert "image_height" not in d["model"] and d["data"]["image_height"] == 128
    assert config_from_dict(d) == cfg
    # a config written before (checkpoints, config.json) carries the model's copy: it loads ...
    old = {**d, "model": {**d["model"], "image_height": 128, "image_width": 64}}
    assert config_from_dict(old) == cfg
    # ... unless it contradicts the data's size
    bad = {**d, "model": {**d["model"], "image_height": 64, "image_width": 64}}
    with pytest.raises(ConfigError, match="model.image_height 64 but data.image_height 128"):
        config_from_dict(bad)
