"""The contract's data: data and its fingerprint, split, seeds, budget, metrics, spec, record."""
