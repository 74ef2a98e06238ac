"""localstripe, made to refuse what Stripe refuses about saved payment methods.

    python -m tests.support.localstripe_strict --port N --from-scratch

localstripe accepts ``off_session`` and ignores it, and charges any PaymentMethod for any
Customer. Stripe does not (its PaymentIntents and "Charge saved payment methods" docs):

- a PaymentMethod that belongs to no Customer cannot be reused off-session: 400
  ``invalid_request_error`` ("... To use a PaymentMethod multiple times, you must attach it
  to a Customer first.");
- a PaymentMethod attached to one Customer cannot be charged for another: 400
  ``invalid_request_error``;
- an off-session confirm of a card that needs authentication fails at once: 402
  ``card_error`` ``authentication_required``, the error carrying the PaymentIntent, which is
  back in ``requires_payment_method`` with that code as ``last_payment_error``.

- a SetupIntent that succeeds attaches its PaymentMethod to its Customer (localstripe
  leaves it unattached).

Only these rules are added, before localstripe's server module is loaded, so its routes
call the stricter methods; everything else is localstripe's own behaviour.
"""

from localstripe import resources
from localstripe.errors import UserError

_NOT_REUSABLE = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
    "attachment, shared with a connected account without Customer attachment, or was "
    "detached from a Customer. It may not be used again. To use a PaymentMethod multiple "
    "times, you must attach it to a Customer first."
)
_AUTHENTICATION_REQUIRED = "Your card was declined. This transaction requires authentication."


class CardError(UserError):
    def __init__(self, message: str, contents: dict) -> None:
        super().__init__(402, message, contents)
        self.body["error"]["type"] = "card_error"


_create = resources.PaymentIntent._api_create.__func__
_last_payment_error = resources.PaymentIntent.last_payment_error


def _strict_create(cls, confirm=None, off_session=None, **data):
    off = resources.try_convert_to_bool(off_session) is True
    method_id, customer = data.get("payment_method"), data.get("customer")
    if method_id and isinstance(method_id, str) and method_id.startswith("pm_"):
        method = resources.PaymentMethod._api_retrieve(method_id)
        if off and method.customer is None:
            raise UserError(400, _NOT_REUSABLE, {"param": "payment_method"})
        if method.customer is not None and customer != method.customer:
            message = (
                f"The provided PaymentMethod {method_id} belongs to another Customer"
                if customer
                else f"The provided PaymentMethod {method_id} is attached to a Customer; "
                "pass that customer"
            )
            raise UserError(400, message, {"param": "customer"})
    intent = _create(cls, confirm=confirm, off_session=off_session, **data)
    if off and intent.status == "requires_action":
        intent.next_action = None
        intent._off_session_method = intent.payment_method
        intent.payment_method = None
        raise CardError(
            _AUTHENTICATION_REQUIRED,
            {
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "payment_intent": intent._export(),
            },
        )
    return intent


def _strict_last_payment_error(self):
    method = getattr(self, "_off_session_method", None)
    if method is not None and self.payment_method is None:
        return {
            "code": "authentication_required",
            "decline_code": "authentication_required",
            "message": _AUTHENTICATION_REQUIRED,
            "payment_method": {"id": method},
        }
    return _last_payment_error.fget(self)


_confirm_setup = resources.SetupIntent._api_confirm.__func__


def _attaching_confirm_setup(cls, id, **kwargs):
    """Stripe attaches the PaymentMethod to the SetupIntent's Customer once it succeeds."""
    intent = _confirm_setup(cls, id, **kwargs)
    if intent.status == "succeeded" and intent.customer and intent.payment_method:
        resources.PaymentMethod._api_retrieve(intent.payment_method).customer = intent.customer
    return intent


resources.SetupIntent._api_confirm = classmethod(_attaching_confirm_setup)
# localstripe's extra routes hold the methods they were listed with: list the new one.
resources.extra_apis[:] = [
    (
        method,
        path,
        resources.SetupIntent._api_confirm
        if path.startswith("/v1/setup_intents/") and path.endswith("/confirm")
        else handler,
    )
    for method, path, handler in resources.extra_apis
]
resources.PaymentIntent._api_create = classmethod(_strict_create)
resources.PaymentIntent.last_payment_error = property(_strict_last_payment_error)


if __name__ == "__main__":
    from localstripe import server

    server.start()
