"""Test-time use of a trained DPIG: the Sampler, inversion and interpolation, re-ID export (orig §5)."""
