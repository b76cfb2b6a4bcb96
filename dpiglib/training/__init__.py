"""The trainers: Stage-I (its step function is the paper's objective, orig §3.6), Stage-II, embeddings and their distribution check."""
