"""Archive signing: the key store (keys/) and the archive verifier (verify/)."""
