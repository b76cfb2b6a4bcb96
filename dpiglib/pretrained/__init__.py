"""Pretrained models: trained DPIG weights that load into a ready :class:`~dpiglib.sampling.sampler.Sampler`.

Not part of the paper (the original code released TensorFlow checkpoints of its models). A
shipped model is a pair of files in ``dpiglib/pretrained/weights/``:

* ``NAME.safetensors``: the sampling networks in fp16 (Stage-I encoder, generator and
  discriminator, which the re-ID export scores with; pose auto-encoder; Stage-II Φ per factor)
  and the training set's poses (the pose bank);
* ``NAME.json``: the manifest: the resolved config the modules are built from, the command and
  recipe that trained them, steps and wall time per phase, the machine, the kit's git commit,
  the sha256 and size of the weights file, and four ground-truth ratios on a held-out
  SynthPerson set (:func:`dpiglib.pretrained.store.pretrained_ratios`).

>>> import dpiglib
>>> dpiglib.list_pretrained()                      # doctest: +SKIP
['synth-tiny']
>>> sampler = dpiglib.load_pretrained("synth-tiny")  # doctest: +SKIP
>>> images = sampler.sample(8, seed=0)               # doctest: +SKIP

Every model can be rebuilt from scratch with the kit's own training path:
``dpig pretrained build synth-tiny --out DIR`` (:mod:`dpiglib.pretrained.build`). The recipes'
seeds (``dpiglib.config.PRETRAINED_SEED``, ``PRETRAINED_HELDOUT_SEED``) are reserved:
``dpig run`` warns when a run uses one (:func:`warn_reserved_seed`).

Modules: :mod:`.registry` (names, errors, reserved seeds; no torch), :mod:`.store` (safetensors
files, loading, the held-out ratios), :mod:`.build` (rebuilding from scratch).
"""
