"""Request bodies, validated without ever echoing the input (a payment method or a bank
account stays private)."""

import json
from typing import Annotated
from typing import Literal
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictBool
from pydantic import StrictInt
from pydantic import StrictStr
from pydantic import ValidationError
from starlette.requests import Request

from schemas.money import MAX_AMOUNT_MINOR
from schemas.money import AmountMinor
from schemas.money import ProviderCurrencyCode
from workers.sandbox_gateway.errors import invalid_request

OptionalAmount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT_MINOR)] | None
Reference = Annotated[str, Field(min_length=1, max_length=200)]
# A connected account of the merchant (Connect-style destination).
AccountId = Annotated[str, Field(pattern=r"^acct_[A-Za-z0-9_]{1,64}$")]
CustomerId = Annotated[str, Field(min_length=1, max_length=200)]


class RequestBody(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    def idempotency_payload(self) -> dict:
        """What the Idempotency-Key is bound to: the body as JSON."""
        return self.model_dump(mode="json")


class CreateCharge(RequestBody):
    amount: AmountMinor
    currency: ProviderCurrencyCode
    payment_method: Annotated[str, Field(min_length=1, max_length=200)]
    capture: StrictBool = True
    reference: Annotated[str, Field(min_length=1, max_length=200)]
    customer_id: Annotated[str, Field(max_length=200)] | None = None
    # The merchant asks for 3-D Secure: a card that would authorize at once is challenged.
    three_d_secure: StrictBool = False
    # A saved method (``pm_…``) is charged for the customer it was saved for; off-session
    # (the customer is away) it authorizes at once or is declined, never challenged.
    customer: CustomerId | None = None
    off_session: StrictBool = False

    def idempotency_payload(self) -> dict:
        """What the Idempotency-Key is bound to: the newer fields only when sent, so a
        request from before they existed keeps the fingerprint it was stored under."""
        unsent = {
            name for name, default in _NEWER_CHARGE_FIELDS.items() if getattr(self, name) == default
        }
        return self.model_dump(mode="json", exclude=unsent)


# Fields charges gained later, with their defaults (left out of the key's fingerprint).
_NEWER_CHARGE_FIELDS = {"three_d_secure": False, "customer": None, "off_session": False}


class AmountBody(RequestBody):
    """Capture and refund: ``null`` means everything still available."""

    amount: OptionalAmount = None


class CreateRefund(RequestBody):
    """``amount`` null: everything still refundable. ``reference``: the merchant's refund id."""

    charge: Annotated[str, Field(min_length=1, max_length=200)]
    amount: OptionalAmount = None
    reference: Reference | None = None


class CreateTransfer(RequestBody):
    amount: AmountMinor
    currency: ProviderCurrencyCode
    destination: AccountId
    reference: Reference


class ReverseTransfer(RequestBody):
    """``amount`` null: everything not reversed yet."""

    amount: OptionalAmount = None
    reference: Reference | None = None


class CreatePayout(RequestBody):
    """``bank_account`` is checked by ``payouts`` (``invalid_bank_account``, never echoed)."""

    amount: AmountMinor
    currency: ProviderCurrencyCode
    destination: AccountId
    bank_account: StrictStr
    reference: Reference
    method: Literal["standard", "instant"] = "standard"

    def idempotency_payload(self) -> dict:
        """``method`` only when instant, so a request from before the field existed keeps
        the fingerprint it was stored under."""
        return self.model_dump(
            mode="json", exclude=None if self.method == "instant" else {"method"}
        )


class CreateAccount(RequestBody):
    reference: Reference  # the merchant's account id


class CreateAccountLink(RequestBody):
    account: AccountId
    refresh_url: Annotated[str, Field(min_length=1, max_length=2000)]
    return_url: Annotated[str, Field(min_length=1, max_length=2000)]


class CreateCustomer(RequestBody):
    reference: Reference  # the merchant's customer id


class AttachMethod(RequestBody):
    """``payment_method``: a test token (``tok_…``), checked as a charge's is."""

    payment_method: Annotated[str, Field(min_length=1, max_length=200)]


class UpdateCustomer(RequestBody):
    default_payment_method: Annotated[str, Field(min_length=1, max_length=200)]


class EmptyBody(RequestBody):
    pass


class ChallengeOutcome(RequestBody):
    outcome: Literal["succeed", "fail"]


Body = TypeVar("Body", bound=BaseModel)


async def parse(request: Request, model: type[Body]) -> Body:
    """The JSON body as ``model`` (an empty body is ``{}``), or 400 ``parameter_invalid``."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise invalid_request("parameter_invalid", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise invalid_request("parameter_invalid", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in e.errors(include_input=False, include_url=False)
        )
        raise invalid_request("parameter_invalid", problems) from None


def amount_within(amount: int | None, most: int, too_large: str) -> int:
    """``amount``, or ``most`` when it is null; 400 ``amount_too_large`` above ``most``.
    ``too_large`` is the message, formatted with ``amount`` and ``most``."""
    amount = most if amount is None else amount
    if amount > most:
        raise invalid_request("amount_too_large", too_large.format(amount=amount, most=most))
    return amount
