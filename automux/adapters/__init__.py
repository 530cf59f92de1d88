"""First-party adapters, each a pluggy plugin registered by entry point."""
