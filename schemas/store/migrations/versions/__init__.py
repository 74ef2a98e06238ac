"""Alembic revision scripts, loaded by path (``0001_baseline.py``, ...), oldest first."""
