"""The automux version, in one place (also read by pyproject's build)."""
__version__ = "0.1.0"
