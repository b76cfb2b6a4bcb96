"""Pose geometry, the annotation and pairs file formats, datasets, validation, dataset roots (orig §2)."""
