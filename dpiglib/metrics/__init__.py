"""Evaluation: the four protocol presets of the literature, each reproduced knob for knob.

``dpig`` (orig §6), ``patn`` (Def-GAN/PATN), ``gfla`` (GFLA family) and ``clean`` (our
recommendation) are defined in :mod:`dpiglib.metrics.protocols` (``PROTOCOLS``), documented with
their sources and pitfalls in ``docs/metrics.md``. Their numbers are never mixed in one column.

Entry points:

* :func:`score_folder` (generated folder + target folder + pairs CSV → ``metrics.json``),
* :func:`compute_metrics` (in-memory images of one protocol).

Building blocks: :mod:`.ssim`, :mod:`.masks`, :mod:`.inception_score`, :mod:`.fid`,
:mod:`.lpips`, :mod:`.pose_accuracy`, :mod:`.io`, :mod:`.report`, :mod:`.weights`. Networks and
their weights load lazily; importing this package loads none.
"""

from dpiglib.metrics.fid import frechet_distance
from dpiglib.metrics.folder import score_folder
from dpiglib.metrics.inception_score import inception_score
from dpiglib.metrics.io import MissingImageError, UnreadableImageError, default_name_fn
from dpiglib.metrics.protocols import PROTOCOLS, Protocol, compute_metrics
from dpiglib.metrics.ssim import SSIM_VARIANTS, ssim

__all__ = ["PROTOCOLS", "Protocol", "compute_metrics", "score_folder", "ssim", "SSIM_VARIANTS",
           "inception_score", "frechet_distance", "default_name_fn", "MissingImageError",
           "UnreadableImageError"]
