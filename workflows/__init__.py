"""Deterministic payment sagas. No I/O here: side effects live in activities."""
