"""The lowest layer: atomic file writes, devices, seeding, AMP, DDP, checkpoints and run logs."""
