"""Stage-I pose branch: the FC pose auto-encoder (orig §3.7, orig B14).

``PoseEncoderFCRes`` / ``PoseDecoderFCRes`` (scopes ``PoseAE/G_Pose_Encoder`` and
``PoseAE/G_Pose_Decoder``). Input is the normalised 54-d pose: per keypoint (R, C, V) with
R = r/H·2−1, C = c/W·2−1, interleaved ``(r0, c0, v0, r1, …)``. The decoder has a linear
coordinate head and a visibility head ``round(sigmoid(·))`` whose gradient is the identity
(straight-through, the original's ``binaryRound``). LeakyReLU slope 0.2 (``wgan_gp.LeakyReLU``),
slim init (Xavier-uniform, zero bias).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from dpiglib.config import ModelConfig
from dpiglib.models.layers import ResidualFC, check_shape, slim_init_

__all__ = ["PoseEncoder", "PoseDecoder", "PoseAutoEncoder", "binary_round_ste", "NUM_KEYPOINTS"]

NUM_KEYPOINTS = 18  # OpenPose-COCO order (orig §2.2); the pose vector is 18·3 = 54-d
_LRELU = 0.2


def binary_round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity gradient backward (``binaryRound``, models.py:97-111).

    The rounding happens in fp32 so mixed precision cannot move a value across 0.5.
    """
    xf = x.float()
    return (xf + (torch.round(xf) - xf).detach()).to(x.dtype)


def _flat_pose(rcv_norm: torch.Tensor) -> torch.Tensor:
    """Accept (B, 54) or (B, 18, 3) and return (B, 54) in the interleaved layout."""
    if rcv_norm.dim() == 3:
        check_shape("rcv_norm", rcv_norm, ("B", NUM_KEYPOINTS, 3))
        return rcv_norm.reshape(rcv_norm.shape[0], NUM_KEYPOINTS * 3)
    check_shape("rcv_norm", rcv_norm, ("B", NUM_KEYPOINTS * 3))
    return rcv_norm


class PoseEncoder(nn.Module):
    """FC 54→h + LReLU, ``blocks`` × ResidualFC(h), FC h→pose_dim (linear)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc_in = nn.Linear(NUM_KEYPOINTS * 3, cfg.pose_hidden)
        self.blocks = nn.Sequential(*(ResidualFC(cfg.pose_hidden, _LRELU) for _ in range(cfg.pose_blocks)))
        self.fc_out = nn.Linear(cfg.pose_hidden, cfg.pose_dim)
        slim_init_(self)

    def forward(self, rcv_norm: torch.Tensor) -> torch.Tensor:
        """(B, 54) or (B, 18, 3) normalised pose → e_pose (B, pose_dim)."""
        h = F.leaky_relu(self.fc_in(_flat_pose(rcv_norm)), _LRELU)
        return self.fc_out(self.blocks(h))


class PoseDecoder(nn.Module):
    """FC pose_dim→h (linear), ``blocks`` × ResidualFC(h), heads: coords (36, linear) and
    visibility (18, sigmoid → round with straight-through gradient)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.pose_dim = cfg.pose_dim
        self.fc_in = nn.Linear(cfg.pose_dim, cfg.pose_hidden)
        self.blocks = nn.Sequential(*(ResidualFC(cfg.pose_hidden, _LRELU) for _ in range(cfg.pose_blocks)))
        self.fc_coords = nn.Linear(cfg.pose_hidden, NUM_KEYPOINTS * 2)
        self.fc_vis = nn.Linear(cfg.pose_hidden, NUM_KEYPOINTS)
        slim_init_(self)

    def forward(self, e_pose: torch.Tensor, hard: bool = True) -> torch.Tensor:
        """Decode a pose embedding.

        Args:
            e_pose: (B, pose_dim).
            hard: round the visibility (the original). ``False`` returns sigmoid probabilities.

        Returns:
            (B, 18, 3) normalised (R, C, V): R, C unbounded; V in {0, 1} (STE gradient).
        """
        check_shape("e_pose", e_pose, ("B", self.pose_dim))
        h = self.blocks(self.fc_in(e_pose))  # no activation after fc_in (models.py:505)
        coords = self.fc_coords(h).view(-1, NUM_KEYPOINTS, 2)  # (B, 18, 2) as (R, C)
        vis = torch.sigmoid(self.fc_vis(h))
        if hard:
            vis = binary_round_ste(vis)
        return torch.cat([coords, vis[:, :, None]], dim=2)


class PoseAutoEncoder(nn.Module):
    """Pose auto-encoder 54 → 32 → (18, 3) (orig §3.7); ``encoder`` / ``decoder`` submodules.

    Args:
        cfg: uses ``pose_hidden`` (512), ``pose_blocks`` (4), ``pose_dim`` (32).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.encoder = PoseEncoder(cfg)
        self.decoder = PoseDecoder(cfg)

    def encode(self, rcv_norm: torch.Tensor) -> torch.Tensor:
        """(B, 54) or (B, 18, 3) → e_pose (B, 32)."""
        return self.encoder(rcv_norm)

    def decode(self, e_pose: torch.Tensor, hard: bool = True) -> torch.Tensor:
        """(B, 32) → (B, 18, 3) normalised (R, C, V)."""
        return self.decoder(e_pose, hard=hard)

    def forward(self, rcv_norm: torch.Tensor):
        """Returns ``(e_pose (B, 32), recon (B, 18, 3))``."""
        e = self.encode(rcv_norm)
        return e, self.decode(e)
