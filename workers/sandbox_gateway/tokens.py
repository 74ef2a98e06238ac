"""Test tokens and the behaviour each one triggers: payment methods and bank accounts.

Add a row to ``TOKENS`` to add a behaviour; anything ``tok_``/``pm_``-prefixed that is not
listed is ``token_not_found``, and anything else (a PAN, say) is ``invalid_payment_method``.
Bank accounts (payouts): any well-formed ``ba_`` token is paid, except those in
``FAILING_BANK_ACCOUNTS``; anything else (an account number, say) is ``invalid_bank_account``.
Only bank accounts starting ``ba_instant`` take instant payouts (as only some debit cards and
banks do at Stripe); an instant payout to any other is ``instant_payouts_unsupported``.
"""

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workers.sandbox_gateway.errors import invalid_request

# The same shape the API accepts (schemas/payments.py): a card number can never match.
TOKEN_PATTERN = re.compile(r"\A(tok|pm)_[A-Za-z0-9_]{1,64}\Z")


class Behaviour(StrEnum):
    SUCCEED = "succeed"
    DECLINE = "decline"  # the authorization is refused (402)
    REQUIRE_ACTION = "require_action"  # 3-D Secure challenge before authorization
    CAPTURE_FAILS = "capture_fails"  # authorizes, but every capture is refused
    REFUND_FAILS = "refund_fails"  # authorizes and captures, but every refund ends failed


@dataclass(frozen=True)
class Decline:
    code: str
    message: str
    decline_code: str | None = None

    def error(self, **extra: Any) -> dict[str, Any]:
        """The gateway's 402 body, ``{"error": {"type": "card_error", ...}}``."""
        error: dict[str, Any] = {"type": "card_error", "code": self.code}
        if self.decline_code:
            error["decline_code"] = self.decline_code
        return {"error": {**error, "message": self.message, **extra}}


@dataclass(frozen=True)
class Token:
    """``last4``: of the test card number behind the token (Stripe's, where it has one);
    ``attaches``: a declining card is refused when saved too, except Stripe's
    ``tok_chargeCustomerFail``, saved fine and declined at every charge."""

    behaviour: Behaviour
    decline: Decline | None = None
    brand: str = "visa"
    last4: str = "4242"
    exp_month: int = 12
    exp_year: int = 2034
    attaches: bool | None = None

    @property
    def saves(self) -> bool:
        return self.behaviour is not Behaviour.DECLINE if self.attaches is None else self.attaches

    @property
    def fingerprint(self) -> str:
        """The same card, the same fingerprint (as Stripe's, never the number itself)."""
        digest = hashlib.sha256(f"sandbox:{self.brand}:{self.last4}".encode()).hexdigest()
        return digest[:16]


TOKENS: dict[str, Token] = {
    "tok_visa": Token(Behaviour.SUCCEED),
    "tok_mastercard": Token(Behaviour.SUCCEED, brand="mastercard", last4="4444"),
    "tok_amex": Token(Behaviour.SUCCEED, brand="amex", last4="8431"),
    "tok_visa_debit": Token(Behaviour.SUCCEED, last4="5556"),
    # Stripe's own test PaymentMethod: one request body works on the sandbox and on Stripe
    # (and a payment can fail over between them).
    "pm_card_visa": Token(Behaviour.SUCCEED),
    "tok_chargeDeclined": Token(
        Behaviour.DECLINE,
        Decline("card_declined", "Your card was declined.", "generic_decline"),
        last4="0002",
    ),
    "tok_chargeCustomerFail": Token(
        Behaviour.DECLINE,
        Decline("card_declined", "Your card was declined.", "generic_decline"),
        last4="0341",
        attaches=True,
    ),
    "tok_insufficientFunds": Token(
        Behaviour.DECLINE,
        Decline("card_declined", "Your card has insufficient funds.", "insufficient_funds"),
        last4="9995",
    ),
    "tok_expiredCard": Token(
        Behaviour.DECLINE,
        Decline("expired_card", "Your card has expired.", "expired_card"),
        last4="0069",
    ),
    "tok_processingError": Token(
        Behaviour.DECLINE,
        Decline("processing_error", "An error occurred while processing your card."),
        last4="0119",
    ),
    "tok_threeDSecureRequired": Token(Behaviour.REQUIRE_ACTION, last4="3184"),
    "tok_captureFails": Token(Behaviour.CAPTURE_FAILS, last4="0028"),
    "tok_refundFails": Token(Behaviour.REFUND_FAILS, last4="5126"),
}

CAPTURE_FAILED = Decline("capture_failed", "The issuer refused to capture this authorization.")
AUTHENTICATION_FAILED = Decline(
    "authentication_failed", "The customer failed 3-D Secure authentication."
)
# Off-session, nobody can answer a challenge: Stripe's decline, word for word.
AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
    "authentication_required",
)
REFUND_FAILED = Decline(
    "expired_or_canceled_card", "The card was expired or canceled; the refund could not be sent."
)

BANK_ACCOUNT_PATTERN = re.compile(r"\Aba_[A-Za-z0-9_]{1,64}\Z")
FAILING_BANK_ACCOUNTS: dict[str, Decline] = {
    "ba_payoutFails": Decline("account_closed", "The bank account has been closed."),
}


def looks_like_token(payment_method: str) -> bool:
    return bool(TOKEN_PATTERN.match(payment_method))


def lookup(payment_method: str) -> Token | None:
    return TOKENS.get(payment_method)


def check_shape(payment_method: str) -> None:
    """400 ``invalid_payment_method`` for what is not shaped like a token (a card number,
    say), never echoing it."""
    if not looks_like_token(payment_method):
        raise invalid_request(
            "invalid_payment_method", "payment_method must be a tok_ or pm_ token"
        )


def known(payment_method: str) -> Token:
    """The token, or 400 (``check_shape``; ``token_not_found`` for an unknown one)."""
    check_shape(payment_method)
    token = lookup(payment_method)
    if token is None:
        raise invalid_request(
            "token_not_found", f"no such payment method: {masked(payment_method)}"
        )
    return token


def refund_fails(payment_method: str) -> bool:
    token = lookup(payment_method)
    return token is not None and token.behaviour is Behaviour.REFUND_FAILS


def takes_instant_payouts(bank_account: str) -> bool:
    return bank_account.startswith("ba_instant")


def looks_like_bank_account(bank_account: str) -> bool:
    return bool(BANK_ACCOUNT_PATTERN.fullmatch(bank_account))


def masked(payment_method: str) -> str:
    """What may appear in logs: the first 8 characters only."""
    return payment_method[:8] + "…" if len(payment_method) > 8 else payment_method
