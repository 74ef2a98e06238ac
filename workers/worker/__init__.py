"""The worker process: ``python -m workers.worker``."""
