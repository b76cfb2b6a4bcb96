"""Evaluation: the four protocol presets of the literature, each reproduced knob for knob.

``dpig`` (orig §6), ``patn`` (Def-GAN/PATN), ``gfla`` (GFLA family) and ``clean`` (our
recommendation) are defined in :mod:`dpiglib.metrics.protocols` (``PROTOCOLS``), documented with
their sources and pitfalls in ``docs/metrics.md``. Their numbers are never mixed in one column.

Entry points:

* :func:`dpiglib.metrics.folder.score_folder` (generated folder + target folder + pairs CSV → ``metrics.json``),
* :func:`dpiglib.metrics.protocols.compute_metrics` (in-memory images of one protocol).

Building blocks: :mod:`.ssim`, :mod:`.masks`, :mod:`.inception_score`, :mod:`.fid`,
:mod:`.lpips`, :mod:`.pose_accuracy`, :mod:`.io`, :mod:`.report`, :mod:`.weights`. Also the kit's
own evaluation: :mod:`.evaluation` (a run's test outputs), :mod:`.ground_truth` (SynthPerson
ground truth), :mod:`.disentangle`. Networks and their weights load lazily.
"""
