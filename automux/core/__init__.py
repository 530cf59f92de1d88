"""core: the reproducibility contract and the machinery that enforces it."""
