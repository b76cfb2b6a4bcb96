"""Stage-I / Stage-II networks: parameter counts (orig §3.8), shapes, TF-compatible ops, gating."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dpiglib.config import get_preset
from dpiglib.models.discriminator import ImageDiscriminator
from dpiglib.models.encoders import FactorEncoder, combine_embeddings
from dpiglib.models.generator import UNetGenerator
from dpiglib.models.layers import (Conv2dSame, ResBlock, count_parameters, crop_and_resize,
                                   same_padding)
from dpiglib.models.mapping import (EmbeddingCritic, MappingNetwork, build_critics,
                                    build_mapping_networks, sample_noise)
from dpiglib.models.pose_ae import PoseAutoEncoder, binary_round_ste


def _meta(fn, *args):
    with torch.device("meta"):  # parameter shapes only: no memory, no init cost
        return fn(*args)


def _inputs(cfg, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.image_size
    img = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    y1 = torch.randint(0, h // 2, (batch, 7, 1), generator=g)
    x1 = torch.randint(0, w // 2, (batch, 7, 1), generator=g)
    boxes = torch.cat([y1, x1, y1 + h // 3, x1 + w // 3], dim=2)  # int64 (B, 7, 4)
    vis = torch.ones(batch, 7)
    mask = torch.zeros(batch, 1, h, w)
    mask[:, :, h // 8: 7 * h // 8, w // 4: 3 * w // 4] = 1
    return img, boxes, vis, mask


# ------------------------------------------------------------------------------------------
# Parameter counts: orig §3.8, exactly
# ------------------------------------------------------------------------------------------

def test_parameter_counts_market():
    m = get_preset("market").model
    enc = _meta(FactorEncoder, m)
    assert count_parameters(enc) == 47_352_736
    assert count_parameters(enc.stem) == 298_752
    assert count_parameters(enc.foreground) == 22_308_384
    assert count_parameters(enc.background) == 24_745_600
    assert count_parameters(_meta(UNetGenerator, m)) == 71_197_123
    assert count_parameters(_meta(ImageDiscriminator, m)) == 4_324_737
    pae = _meta(PoseAutoEncoder, m)
    assert (count_parameters(pae.encoder), count_parameters(pae.decoder)) == (2_145_824, 2_145_846)
    phis, critics = _meta(build_mapping_networks, m), _meta(build_critics, m)
    assert {k: count_parameters(v) for k, v in phis.items()} == {
        "fg": 2_331_360, "bg": 592_256, "pose": 2_134_560}
    assert {k: count_parameters(v) for k, v in critics.items()} == {
        "fg": 903_681, "bg": 854_529, "pose": 805_377}


def test_parameter_counts_deepfashion():
    m = get_preset("deepfashion").model
    enc = _meta(FactorEncoder, m)
    assert enc.background is None and (enc.fg_dim, enc.bg_dim, enc.embedding_dim) == (224, 0, 224)
    assert count_parameters(enc) == 58_140_832
    gen = _meta(UNetGenerator, m)
    assert count_parameters(gen) == 82_088_387
    assert count_parameters(gen.fc_down) == 163_840 * 64 + 64  # "the FC alone is 10.5M"
    assert count_parameters(_meta(ImageDiscriminator, m)) == 4_324_737
    pae = _meta(PoseAutoEncoder, m)
    assert (count_parameters(pae.encoder), count_parameters(pae.decoder)) == (2_145_824, 2_145_846)
    phis, critics = _meta(build_mapping_networks, m), _meta(build_critics, m)
    assert {k: count_parameters(v) for k, v in phis.items()} == {"app": 2_331_360, "pose": 2_134_560}
    assert {k: count_parameters(v) for k, v in critics.items()} == {"app": 903_681, "pose": 805_377}


# ------------------------------------------------------------------------------------------
# Shapes at Market, DF and synth-tiny sizes
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset,overrides,logits", [
    ("market", {}, 1),
    ("synth-tiny", {}, 1),
    # DF at 256×256 with a narrow width keeps CPU time low; the layout does not depend on width
    # except the D head, whose 8-logit reshape is checked at full width below.
    ("deepfashion", {"model_width": 16}, None),
])
def test_stage1_shapes(preset, overrides, logits):
    m = get_preset(preset, **overrides).model
    torch.manual_seed(0)
    enc, gen = FactorEncoder(m), UNetGenerator(m)
    img, boxes, vis, mask = _inputs(m, 2)
    with torch.no_grad():
        e_fg, e_bg = enc(img, boxes, vis, mask)
        assert e_fg.shape == (2, 224)
        if m.background_dim:
            assert e_bg.shape == (2, 128) and enc.embedding_dim == 352
        else:
            assert e_bg is None
        emb = combine_embeddings(e_fg, e_bg)
        assert emb.shape == (2, enc.embedding_dim)
        heat = torch.where(torch.rand(2, 18, *m.image_size) > 0.9, 1.0, -1.0)
        out = gen(emb, heat)
        assert out.shape == (2, 3, *m.image_size) and torch.isfinite(out).all()
        if logits is not None:
            assert ImageDiscriminator(m)(img).shape == (2, logits)


def test_deepfashion_encoder_full_width_and_discriminator_8_logits():
    m = get_preset("deepfashion").model
    torch.manual_seed(0)
    img, boxes, vis, _ = _inputs(m, 1)
    with torch.no_grad():
        e_fg, e_bg = FactorEncoder(m)(img, boxes, vis, None)  # DF: no mask needed
    assert e_fg.shape == (1, 224) and e_bg is None
    d = ImageDiscriminator(m)
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        logits = d(x)
        feats = d.features(x)  # (2, 512, 16, 16)
    assert d.num_logits == 8 and logits.shape == (2, 8) and feats.shape == (2, 512, 16, 16)
    # Logit j of image i comes from the contiguous 64-channel slice j of the NCHW map (orig §3.5).
    manual = torch.stack([d.fc(feats[:, 64 * j: 64 * (j + 1)].reshape(2, -1))[:, 0]
                          for j in range(8)], dim=1)
    torch.testing.assert_close(logits, manual)


def test_pose_ae_mapping_critic_shapes():
    for preset in ("market", "synth-tiny"):
        m = get_preset(preset).model
        pae = PoseAutoEncoder(m)
        rcv = torch.rand(4, 18, 3) * 2 - 1
        e, recon = pae(rcv)
        assert e.shape == (4, 32) and recon.shape == (4, 18, 3)
        assert torch.equal(pae.encode(rcv.reshape(4, 54)), pae.encode(rcv))  # interleaved layout
        assert set(recon[:, :, 2].unique().tolist()) <= {0.0, 1.0}
        phis, critics = build_mapping_networks(m), build_critics(m)
        assert list(phis) == ["fg", "bg", "pose"] and list(critics) == ["fg", "bg", "pose"]
        for name, dim in (("fg", 224), ("bg", 128), ("pose", 32)):
            z = sample_noise(5, dim, get_preset(preset).stage2.noise_std,
                             generator=torch.Generator().manual_seed(1))
            assert phis[name](z).shape == (5, dim)
            assert critics[name](phis[name](z)).shape == (5, 1)
    assert list(build_mapping_networks(get_preset("deepfashion").model)) == ["app", "pose"]


def test_noise_is_seeded_and_has_the_configs_std():
    std = get_preset("market").stage2.noise_std
    a = sample_noise(4000, 32, std, generator=torch.Generator().manual_seed(3))
    b = sample_noise(4000, 32, std, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert std == 0.2 and abs(a.std().item() - std) < 0.005  # orig B13


# ------------------------------------------------------------------------------------------
# crop_and_resize == tf.image.crop_and_resize (NumPy transcription of the TF CPU kernel)
# ------------------------------------------------------------------------------------------

def _tf_crop_and_resize_np(image, boxes, crop_h, crop_w, extrapolation_value=0.0):
    """image (H, W, C); boxes (K, 4) normalised; mirrors crop_and_resize_op.cc (bilinear)."""
    h, w, c = image.shape
    out = np.zeros((len(boxes), crop_h, crop_w, c), np.float64)
    for k, (y1, x1, y2, x2) in enumerate(boxes):
        hs = (y2 - y1) * (h - 1) / (crop_h - 1) if crop_h > 1 else 0
        ws = (x2 - x1) * (w - 1) / (crop_w - 1) if crop_w > 1 else 0
        for i in range(crop_h):
            in_y = y1 * (h - 1) + i * hs if crop_h > 1 else 0.5 * (y1 + y2) * (h - 1)
            if in_y < 0 or in_y > h - 1:
                out[k, i] = extrapolation_value
                continue
            top, bot = int(np.floor(in_y)), int(np.ceil(in_y))
            yl = in_y - top
            for j in range(crop_w):
                in_x = x1 * (w - 1) + j * ws if crop_w > 1 else 0.5 * (x1 + x2) * (w - 1)
                if in_x < 0 or in_x > w - 1:
                    out[k, i, j] = extrapolation_value
                    continue
                left, right = int(np.floor(in_x)), int(np.ceil(in_x))
                xl = in_x - left
                t = image[top, left] + (image[top, right] - image[top, left]) * xl
                b = image[bot, left] + (image[bot, right] - image[bot, left]) * xl
                out[k, i, j] = t + (b - t) * yl
    return out


@pytest.mark.parametrize("crop", [(5, 5), (4, 3), (1, 1)])
def test_crop_and_resize_matches_tf_semantics(crop):
    rng = np.random.default_rng(0)
    h, w, c = 9, 7, 3
    feats = rng.standard_normal((2, c, h, w)).astype(np.float32)
    boxes = np.array([
        [[0.0, 0.0, 1.0, 1.0],          # whole map: ends at pixel (H−1)·1, not beyond
         [2 / 9, 1 / 7, 6 / 9, 5 / 7],  # an interior pixel box divided by H, W (orig §2.5)
         [-0.3, 0.5, 0.6, 1.4],         # extends past the top and right borders → zeros there
         [0.8, 0.7, 0.1, 0.2]],         # flipped box: TF samples it reversed
        [[0.5, 0.5, 0.5, 0.5],          # degenerate point box
         [0.0, 0.0, 1 / 9, 1 / 7],      # the invisible-part box [0, 0, 1, 1] px
         [1.2, -0.5, 1.5, -0.1],        # completely outside → all zeros
         [0.25, 0.1, 0.95, 0.9]],
    ], np.float32)
    got = crop_and_resize(torch.from_numpy(feats), torch.from_numpy(boxes), crop).numpy()
    assert got.shape == (2, 4, c, *crop)
    for bi in range(2):
        ref = _tf_crop_and_resize_np(feats[bi].transpose(1, 2, 0).astype(np.float64),
                                     boxes[bi].astype(np.float64), *crop)
        np.testing.assert_allclose(got[bi], ref.transpose(0, 3, 1, 2), atol=2e-5, rtol=1e-5)
    if crop == (5, 5):
        assert np.all(got[1, 2] == 0)  # outside the map: exactly TF's extrapolation value 0
        assert np.all(got[0, 2, :, 0, :] == 0)  # row at y = −0.3·8 < 0
        np.testing.assert_allclose(got[0, 0, :, 0, 0], feats[0, :, 0, 0], atol=1e-6)
        np.testing.assert_allclose(got[0, 0, :, -1, -1], feats[0, :, -1, -1], atol=1e-6)


def test_encoder_part_order_is_part_major_and_boxes_dtype_free():
    m = get_preset("synth-tiny").model
    torch.manual_seed(0)
    enc = FactorEncoder(m)
    img, boxes, vis, mask = _inputs(m, 2, seed=1)
    with torch.no_grad():
        e1, _ = enc(img, boxes, vis, mask)
        e_float, _ = enc(img, boxes.float(), vis, mask)
        swapped = boxes.clone()
        swapped[:, [0, 3]] = boxes[:, [3, 0]]
        e2, _ = enc(img, swapped, vis, mask)
    torch.testing.assert_close(e1, e_float)
    p = m.part_dim
    torch.testing.assert_close(e2[:, 0:p], e1[:, 3 * p:4 * p])
    torch.testing.assert_close(e2[:, 3 * p:4 * p], e1[:, 0:p])
    torch.testing.assert_close(e2[:, p:3 * p], e1[:, p:3 * p])


# ------------------------------------------------------------------------------------------
# TF 'SAME' padding
# ------------------------------------------------------------------------------------------

def test_same_padding_rule():
    assert same_padding(128, 3, 2) == (0, 1)  # asymmetric: one extra row at the bottom
    assert same_padding(128, 5, 2) == (1, 2)
    assert same_padding(9, 3, 2) == (1, 1)    # odd size: symmetric again
    assert same_padding(9, 5, 2) == (2, 2)
    assert same_padding(64, 3, 1) == (1, 1)
    assert same_padding(64, 1, 1) == (0, 0)


@pytest.mark.parametrize("k,s,size,pads", [(3, 2, (8, 6), (0, 1, 0, 1)), (5, 2, (8, 4), (1, 2, 1, 2)),
                                          (3, 2, (7, 5), (1, 1, 1, 1)), (3, 1, (6, 4), (1, 1, 1, 1)),
                                          (1, 1, (6, 4), (0, 0, 0, 0))])
def test_conv2d_same_equals_explicit_tf_padding(k, s, size, pads):
    torch.manual_seed(0)
    conv = Conv2dSame(2, 3, k, stride=s)
    x = torch.randn(1, 2, *size)
    ref = F.conv2d(F.pad(x, pads), conv.weight, conv.bias, stride=s)
    out = conv(x)
    assert out.shape == (1, 3, -(-size[0] // s), -(-size[1] // s))
    torch.testing.assert_close(out, ref)
    if s == 2 and pads[0] != pads[1]:  # symmetric padding would shift the sampling grid
        sym = F.conv2d(x, conv.weight, conv.bias, stride=s, padding=k // 2)
        assert sym.shape == out.shape and not torch.allclose(sym, out)


def test_resblock_is_x_plus_relu_conv_relu_conv():
    torch.manual_seed(0)
    block = ResBlock(4)
    x = torch.randn(2, 4, 6, 5)
    ref = x + F.relu(F.conv2d(F.relu(F.conv2d(x, block.conv1.weight, block.conv1.bias, padding=1)),
                              block.conv2.weight, block.conv2.bias, padding=1))
    torch.testing.assert_close(block(x), ref)


# ------------------------------------------------------------------------------------------
# Gating, masking, conditioning
# ------------------------------------------------------------------------------------------

def test_visibility_gating_zeroes_invisible_parts_exactly():
    m = get_preset("synth-tiny").model
    torch.manual_seed(0)
    enc = FactorEncoder(m)
    img, boxes, vis, mask = _inputs(m, 2)
    vis[0, 2] = 0
    vis[1, 6] = 0
    with torch.no_grad():
        e_fg, _ = enc(img, boxes, vis, mask)
    parts = e_fg.view(2, 7, 32)
    assert torch.all(parts[0, 2] == 0) and torch.all(parts[1, 6] == 0)
    assert parts[0, 6].abs().sum() > 0 and parts[1, 2].abs().sum() > 0


def test_feature_masking_separates_fg_and_bg():
    m = get_preset("synth-tiny").model
    torch.manual_seed(0)
    enc = FactorEncoder(m)
    img, boxes, vis, mask = _inputs(m, 2)
    other = torch.rand_like(img) * 2 - 1
    zero, one = torch.zeros_like(mask), torch.ones_like(mask)
    with torch.no_grad():
        # mask = 0: the fg branch sees only zeros, whatever the image; mask = 1: same for bg.
        torch.testing.assert_close(enc(img, boxes, vis, zero)[0], enc(other, boxes, vis, zero)[0])
        torch.testing.assert_close(enc(img, boxes, vis, one)[1], enc(other, boxes, vis, one)[1])
        # Local check: the stem (3 convs 3×3) sees 3 px around each pixel. Pixels more than 3 px
        # outside the mask cannot reach e_fg but do change e_bg.
        h, w = m.image_size
        mask = torch.zeros(2, 1, h, w)
        mask[:, :, 10:50, 8:24] = 1
        edited = img.clone()
        edited[:, :, :6] = -img[:, :, :6]  # rows 0-5 are > 3 px from row 10
        edited[:, :, 55:] = 0.5
        a, b = enc(img, boxes, vis, mask), enc(edited, boxes, vis, mask)
    torch.testing.assert_close(a[0], b[0], atol=1e-6, rtol=0)
    assert (a[1] - b[1]).abs().max() > 1e-4


def test_mask_is_required_on_market_style_models():
    m = get_preset("synth-tiny").model
    img, boxes, vis, _ = _inputs(m, 1)
    with pytest.raises(ValueError, match="mask"):
        FactorEncoder(m)(img, boxes, vis, None)


def test_generator_depends_on_heatmap_and_embedding():
    m = get_preset("synth-tiny").model
    torch.manual_seed(0)
    gen = UNetGenerator(m)
    emb = torch.randn(1, 352)
    h1 = -torch.ones(1, 18, 64, 32)
    h2 = h1.clone()
    h2[:, 4, 30:34, 10:14] = 1
    with torch.no_grad():
        a, b, c = gen(emb, h1), gen(emb, h2), gen(emb * 2, h1)
    assert (a - b).abs().max() > 1e-5 and (a - c).abs().max() > 1e-5


# ------------------------------------------------------------------------------------------
# Pose AE straight-through estimator; init; BN mode
# ------------------------------------------------------------------------------------------

def test_binary_round_straight_through():
    x = torch.tensor([0.2, 0.49, 0.51, 0.9], requires_grad=True)
    y = binary_round_ste(x)
    assert y.tolist() == [0.0, 0.0, 1.0, 1.0]
    (y * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 4.0]  # identity gradient through round


def test_pose_decoder_visibility_gets_gradient():
    pae = PoseAutoEncoder(get_preset("synth-tiny").model)
    _, recon = pae(torch.rand(3, 54))
    recon[:, :, 2].sum().backward()  # only the rounded V: gradient must reach the vis head
    assert pae.decoder.fc_vis.weight.grad.abs().sum() > 0
    assert pae.decoder.fc_coords.weight.grad is None or pae.decoder.fc_coords.weight.grad.abs().sum() == 0


def test_initialisation():
    m = get_preset("synth-tiny").model
    enc, d = FactorEncoder(m), ImageDiscriminator(m)
    for mod in enc.modules():
        if hasattr(mod, "bias") and isinstance(mod.bias, torch.Tensor):
            assert torch.all(mod.bias == 0)
    w = enc.foreground.fc.weight  # Xavier-uniform bound √(6/(fan_in+fan_out))
    assert w.abs().max() <= math.sqrt(6 / sum(w.shape)) + 1e-7
    bound = 0.02 * math.sqrt(3)
    dw = d.convs[3].weight
    assert dw.abs().max() <= bound and abs(dw.std().item() - 0.02) < 0.001
    c = EmbeddingCritic(224)
    assert c.fc_in.weight.abs().max() <= math.sqrt(6 / 224) + 1e-7
    assert c.fc_in.weight.abs().max() > 0.9 * math.sqrt(6 / 224)  # He, not Glorot (√(6/736))
    assert c.fc_out.weight.abs().max() <= math.sqrt(6 / 513) + 1e-7


def test_discriminator_bn_uses_batch_statistics_in_eval_mode():
    m = get_preset("synth-tiny").model
    torch.manual_seed(0)
    x = torch.randn(4, 3, 64, 32)
    d = ImageDiscriminator(m).eval()  # faithful: batch statistics even in eval
    assert "norms.0.running_mean" not in d.state_dict()
    with torch.no_grad():
        assert not torch.allclose(d(x)[:2], d(x[:2]))
    d2 = ImageDiscriminator(m, bn_always_train=False).eval()  # running statistics: per-sample
    with torch.no_grad():
        torch.testing.assert_close(d2(x)[:2], d2(x[:2]))


# ------------------------------------------------------------------------------------------
# Error messages
# ------------------------------------------------------------------------------------------

def test_errors_name_argument_and_expected_shape():
    m = get_preset("synth-tiny").model
    enc, gen = FactorEncoder(m), UNetGenerator(m)
    img, boxes, vis, mask = _inputs(m, 2)
    with pytest.raises(ValueError, match=r"img must have shape \(B, 3, 64, 32\), got \(2, 3, 128, 64\)"):
        enc(torch.zeros(2, 3, 128, 64), boxes, vis, mask)
    with pytest.raises(ValueError, match=r"boxes must have shape \(2, 7, 4\)"):
        enc(img, boxes[:, :5], vis, mask)
    with pytest.raises(ValueError, match=r"box_vis"):
        enc(img, boxes, vis[:1], mask)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 1, 64, 32\)"):
        enc(img, boxes, vis, mask[:, :, :10])
    with pytest.raises(ValueError, match=r"embedding must have shape \(B, 352\)"):
        gen(torch.zeros(2, 224), torch.zeros(2, 18, 64, 32))
    with pytest.raises(ValueError, match=r"heatmap must have shape \(2, 18, 64, 32\)"):
        gen(torch.zeros(2, 352), torch.zeros(2, 17, 64, 32))
    with pytest.raises(ValueError, match=r"rcv_norm must have shape \(B, 54\)"):
        PoseAutoEncoder(m).encode(torch.zeros(2, 36))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 224\)"):
        MappingNetwork(224, 64)(torch.zeros(3, 128))
    with pytest.raises(ValueError, match=r"img must have shape \(B, 3, 64, 32\)"):
        ImageDiscriminator(m)(torch.zeros(1, 3, 32, 32))


def test_original_discriminator_heads_refuse_sizes_they_cannot_reshape():
    with pytest.raises(ValueError, match="disc_head='market'.*clean"):
        _meta(ImageDiscriminator, get_preset("synth-tiny", model_disc_head="market").model)
    with pytest.raises(ValueError, match="disc_head='market'"):  # DF size gives 8 rows, not 1
        _meta(ImageDiscriminator, get_preset("deepfashion", model_disc_head="market").model)
    clean = _meta(ImageDiscriminator, get_preset("deepfashion", model_disc_head="clean").model)
    assert clean.num_logits == 1 and clean.fc.in_features == 512 * 16 * 16


@pytest.mark.parametrize("size,d,n", [((64, 32), 352, 16), ((128, 64), 352, 128), ((5, 3), 7, 4)])
def test_tiled_input_conv_equals_the_conv_over_the_tiled_map(size, d, n):
    """The generator's first conv is computed without materialising tile(e): values and
    gradients (weight, bias, embedding, heatmap) equal the explicit conv over [tile(e), heatmap],
    borders included (zero padding drops the outside taps there)."""
    from dpiglib.models.generator import TiledInputConv
    from dpiglib.models.layers import Conv2dSame

    torch.manual_seed(0)
    h, w = size
    conv = TiledInputConv(d + 18, n, 3)
    with torch.no_grad():
        conv.bias.normal_()
    e = torch.randn(2, d, requires_grad=True)
    hm = torch.randn(2, 18, h, w, requires_grad=True)
    fast = conv(e, hm)
    ref_in = torch.cat([e[:, :, None, None].expand(2, d, h, w), hm], 1)
    ref = Conv2dSame.forward(conv, ref_in)
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-4)
    g = torch.randn_like(ref)
    grads_fast = torch.autograd.grad((fast * g).sum(), [conv.weight, conv.bias, e, hm])
    grads_ref = torch.autograd.grad((ref * g).sum(), [conv.weight, conv.bias, e, hm])
    for a, b in zip(grads_fast, grads_ref):  # sums over B·H·W products: float32 summation order
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))
    # the border really differs from the interior (the reason it is not a plain bias)
    assert not torch.allclose(ref[:, :, 0, 0], ref[:, :, h // 2, w // 2])
