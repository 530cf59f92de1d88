"""The experiment, fixed before any backend runs: data and its fingerprint, split, seeds, budget,
metrics, the spec built from them (``prepare``), and the run record a backend leaves."""
