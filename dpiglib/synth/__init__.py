"""SynthPerson: the procedural person renderer, its drawing primitives, and dataset generation with ground truth."""
