"""The paper's networks: encoders, U-Net generator, discriminator, pose auto-encoder, mapping networks Φ, losses, and the Stage-I / Stage-II models (orig §3-§4)."""
