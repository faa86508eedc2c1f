"""The classifier's corpus (hand-written fragments composed by a seeded generator) and training."""
