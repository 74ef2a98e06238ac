"""The sandbox gateway: a payment processor we own, spoken to over HTTP like a real one.

State lives in its own SQLite file; test tokens (``tokens``) choose the outcome, idempotency
keys are honoured (``idempotency``), faults can be injected (``faults``) and ``/v1/stats``
counts what was applied so tests can prove exactly-once.
"""

from workers.sandbox_gateway.app import create_app

__all__ = ["create_app"]
