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
