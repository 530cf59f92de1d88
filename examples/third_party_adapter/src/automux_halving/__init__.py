"""automux-halving: scikit-learn's successive-halving search as an automux backend (example plugin)."""
__version__ = "0.1.0"
