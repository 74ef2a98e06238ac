"""Tools that drive a running stack: bench, chaos, risk training, verification."""
