"""Activity names, shared by the workflows (which call them by name) and the activities.

They read as the step history an operator sees in the Temporal UI.
"""

SCREEN_PAYMENT = "screen_payment"
AUTHORIZE_PAYMENT = "authorize_payment"
CONFIRM_PAYMENT_ACTION = "confirm_payment_action"
CAPTURE_PAYMENT = "capture_payment"
VOID_AUTHORIZATION = "void_authorization"
REFUND_PAYMENT = "refund_payment"
RECORD_PAYMENT = "record_payment"

RESERVE_REFUND = "reserve_refund"
CREATE_REFUND = "create_refund"
RECORD_REFUND = "record_refund"

RESERVE_PAYOUT = "reserve_payout"
TRANSFER_TO_CONNECTED_ACCOUNT = "transfer_to_connected_account"
PAY_OUT_TO_BANK = "pay_out_to_bank"
REVERSE_TRANSFER = "reverse_transfer"
RELEASE_PAYOUT_RESERVATION = "release_payout_reservation"
RECORD_PAYOUT = "record_payout"

FIND_UNRESOLVED = "find_unresolved"
LOOKUP_CHARGE = "lookup_charge"
LOOKUP_REFUND = "lookup_refund"
LOOKUP_PAYOUT = "lookup_payout"
BUILD_RECONCILIATION_REPORT = "build_reconciliation_report"

LOOKUP_PAYMENT_OUTCOME = "lookup_payment_outcome"

ADMIT_INSTALLMENT_PLAN = "admit_installment_plan"
RECORD_INSTALLMENT_PLAN = "record_installment_plan"

RECORD_SUBSCRIPTION = "record_subscription"
