"""Test payment-method tokens and the behaviour each one triggers.

Add a row to ``TOKENS`` to add a behaviour; anything ``tok_``/``pm_``-prefixed that is not
listed is ``token_not_found``, and anything else (a PAN, say) is ``invalid_payment_method``.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

# The same shape the API accepts (schemas/payments.py): a card number can never match.
TOKEN_PATTERN = re.compile(r"^(tok|pm)_[A-Za-z0-9_]{1,64}$")


class Behaviour(StrEnum):
    SUCCEED = "succeed"
    DECLINE = "decline"  # the authorization is refused (402)
    REQUIRE_ACTION = "require_action"  # 3-D Secure challenge before authorization
    CAPTURE_FAILS = "capture_fails"  # authorizes, but every capture is refused


@dataclass(frozen=True)
class Decline:
    code: str
    message: str
    decline_code: str | None = None


@dataclass(frozen=True)
class Token:
    behaviour: Behaviour
    decline: Decline | None = None
    brand: str = "visa"


TOKENS: dict[str, Token] = {
    "tok_visa": Token(Behaviour.SUCCEED),
    "tok_mastercard": Token(Behaviour.SUCCEED, brand="mastercard"),
    "tok_amex": Token(Behaviour.SUCCEED, brand="amex"),
    "tok_visa_debit": Token(Behaviour.SUCCEED),
    "tok_chargeDeclined": Token(
        Behaviour.DECLINE, Decline("card_declined", "Your card was declined.", "generic_decline")
    ),
    "tok_insufficientFunds": Token(
        Behaviour.DECLINE,
        Decline("card_declined", "Your card has insufficient funds.", "insufficient_funds"),
    ),
    "tok_expiredCard": Token(
        Behaviour.DECLINE, Decline("expired_card", "Your card has expired.", "expired_card")
    ),
    "tok_processingError": Token(
        Behaviour.DECLINE,
        Decline("processing_error", "An error occurred while processing your card."),
    ),
    "tok_threeDSecureRequired": Token(Behaviour.REQUIRE_ACTION),
    "tok_captureFails": Token(Behaviour.CAPTURE_FAILS),
}

CAPTURE_FAILED = Decline("capture_failed", "The issuer refused to capture this authorization.")
AUTHENTICATION_FAILED = Decline(
    "authentication_failed", "The customer failed 3-D Secure authentication."
)


def looks_like_token(payment_method: str) -> bool:
    return bool(TOKEN_PATTERN.match(payment_method))


def lookup(payment_method: str) -> Token | None:
    return TOKENS.get(payment_method)


def masked(payment_method: str) -> str:
    """What may appear in logs: the first 8 characters only."""
    return payment_method[:8] + "…" if len(payment_method) > 8 else payment_method
