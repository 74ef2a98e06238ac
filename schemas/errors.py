"""Stable error type names shared by activities, workflows and the API.

Activities raise ``ApplicationError(type=...)`` with the provider taxonomy (DESIGN §6);
workflow update validators raise the payment-state errors that the API maps to 409/422.
"""

# Provider taxonomy.
DECLINED = "Declined"  # business outcome, never retried
INVALID_REQUEST = "InvalidRequest"  # our request was wrong, never retried
UNAVAILABLE = "Unavailable"  # provider down or throttled, retried with backoff
OUTCOME_UNKNOWN = "OutcomeUnknown"  # request may have been applied: retry with the same key

PROVIDER_NON_RETRYABLE = [DECLINED, INVALID_REQUEST]

# Update validation failures.
INVALID_PAYMENT_STATE = "InvalidPaymentState"
AMOUNT_EXCEEDS_AUTHORIZED = "AmountExceedsAuthorized"

# Ledger failures that retries cannot fix.
LEDGER_REJECTED = "LedgerRejected"
# A posting would leave a guarded account (money someone may spend) below zero.
INSUFFICIENT_BALANCE = "InsufficientBalance"
# A refund or payout that cannot be admitted; details[0] carries {code, message}.
REJECTED = "Rejected"

# Installment plan updates.
INVALID_PLAN_STATE = "InvalidInstallmentPlanState"
AMOUNT_EXCEEDS_OUTSTANDING = "AmountExceedsOutstanding"
INSTALLMENT_OUT_OF_ORDER = "InstallmentOutOfOrder"
