"""Backend environments: isolated env builds and their cache, interpreter discovery, the handshake, env descriptions."""
