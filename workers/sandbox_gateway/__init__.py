"""The sandbox gateway: a payment processor we own, spoken to over HTTP like a real one.

Charges (``charges``, with a fee on capture), refunds (``refunds``), Connect-style transfers
(``transfers``) and payouts (``payouts``); every movement of money is a balance transaction
(``ledger``) and balances are derived from them (``balance``). State lives in its own SQLite
file (``store``, ``schema``, ``rows``); test tokens (``tokens``) choose the outcome,
idempotency keys are honoured (``idempotency``), faults can be injected (``faults``) and
``/v1/stats`` counts what was applied so tests can prove exactly-once. Routes: ``app``,
``charge_routes``, ``connect_routes``.
"""

from workers.sandbox_gateway.app import create_app

__all__ = ["create_app"]
