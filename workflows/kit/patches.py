"""Every ``workflow.patched`` id the sagas use, why it exists, and when it can go.

Each marks, in the histories the new code makes, a path older code never took. A worker
still running older code then fails fast (a non-deterministic history) on such a payment
instead of replaying it down another path. ``TENANT_FAIRNESS`` and ``PROVIDER_FAST_PATH``
also gate the old path: a history without their marker replays down the code that made it,
so they can be deprecated only once no such history can be replayed either.

Retiring one takes two releases. First ``workflow.deprecate_patch(id)`` instead of
``workflow.patched(id)``, once no worker without this code can be rolled back to. Then
remove the call, once no history holding the non-deprecated marker can be replayed: every
payment that recorded it is closed and past the namespace's retention, and the recorded
histories named below are recorded again. Removing the call first breaks their replay.
"""

# A payment's authorization is first tried once as a local activity, in the workflow task
# that screened it; only a failure that is retried goes on as the regular activity, under the
# same idempotency key. Held by tests/histories/payment_fast_path.json (answered at once) and
# payment_fast_path_fallback.json (the regular activity after an Unavailable); every payment
# history recorded before calls the regular activity at once, without it.
PROVIDER_FAST_PATH = "provider-fast-path"

# A payment goes to its next provider when one was unavailable before applying anything.
# No recorded history holds it (no scenario in tests/support/record_histories.py fails
# over), so the retention of the payments that failed over is the only gate.
PROVIDER_FAILOVER = "provider-failover"

# A payment the risk rules hold is authorized without capture and waits in ``in_review``.
# Held by tests/histories/payment_review_approved.json and payment_review_rejected.json.
RISK_REVIEW = "risk-review"

# A card setup the customer abandoned (never confirmed in time, or confirmed without
# finishing) is canceled at the provider before the method is recorded ``failed``, so it
# cannot attach the card later; one that succeeded meanwhile is saved after all. No
# recorded history holds it (none abandons a setup).
CANCEL_ABANDONED_SETUP = "cancel-abandoned-setup"

# A payment's, refund's or payout's provider calls carry its tenant as their task queue
# fairness key, so the server hands out waiting calls in turn per tenant. Held by
# tests/histories/{payment_automatic_capture,refund_partial_refund,payout_payout_paid}
# _keyed_by_tenant.json.
TENANT_FAIRNESS = "tenant-fairness"

# Reconciliation finds a payment captured at the provider for another amount or currency than
# the payment's: it books nothing and leaves the payment ``requires_attention`` for an
# operator (newer code than the booking path every earlier run took). Held by
# tests/histories/reconciliation_provider_disagrees.json.
PROVIDER_DISAGREES = "reconciliation-provider-disagrees"
