"""localstripe as the tests run it: made strict about saved payment methods
(``localstripe_strict``), plus one test-only route Stripe gives no API for: a refund the card
issuer fails after Stripe accepted it (``POST /_test/refunds/{id}/fail``, ``failure_reason``).

Stripe then sets the refund ``failed`` with its ``failure_reason`` and sends
``refund.failed``; the money is back in the platform's balance. Run from the project's root
as ``python -m tests.support.localstripe_server --port N``.
"""

from localstripe import resources
from localstripe.errors import UserError

# Stripe's rules about saved payment methods, which localstripe lacks (loaded on import).
from tests.support import localstripe_strict  # noqa: F401

# Stripe's documented reasons a refund fails.
FAILURE_REASONS = ("lost_or_stolen_card", "expired_or_canceled_card", "declined", "unknown")


def fail_refund(id: str, failure_reason: str = "expired_or_canceled_card") -> resources.Refund:
    refund = resources.Refund._api_retrieve(id)
    if failure_reason not in FAILURE_REASONS:
        raise UserError(400, f"Invalid failure_reason: must be one of {FAILURE_REASONS}")
    if refund.status != "succeeded":
        raise UserError(400, f"Refund {id} is {refund.status}: only a succeeded one can fail")
    refund.status = "failed"
    refund.failure_reason = failure_reason
    return refund


# Extra routes are read when the server module is imported: add ours first.
resources.extra_apis.append(("POST", "/_test/refunds/{id}/fail", fail_refund))

if __name__ == "__main__":
    from localstripe.server import start

    start()
