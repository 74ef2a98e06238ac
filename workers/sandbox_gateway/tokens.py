"""Test tokens and the behaviour each one triggers: payment methods and bank accounts.

Add a row to ``TOKENS`` to add a behaviour; anything ``tok_``/``pm_``-prefixed that is not
listed is ``token_not_found``, and anything else (a PAN, say) is ``invalid_payment_method``.
Bank accounts (payouts): any well-formed ``ba_`` token is paid, except those in
``FAILING_BANK_ACCOUNTS``; anything else (an account number, say) is ``invalid_bank_account``.
Only bank accounts starting ``ba_instant`` take instant payouts (as only some debit cards and
banks do at Stripe); an instant payout to any other is ``instant_payouts_unsupported``.
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
    REFUND_FAILS = "refund_fails"  # authorizes and captures, but every refund ends failed


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
    # Stripe's own test PaymentMethod: one request body works on the sandbox and on Stripe
    # (and a payment can fail over between them).
    "pm_card_visa": Token(Behaviour.SUCCEED),
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
    "tok_refundFails": Token(Behaviour.REFUND_FAILS),
}

CAPTURE_FAILED = Decline("capture_failed", "The issuer refused to capture this authorization.")
AUTHENTICATION_FAILED = Decline(
    "authentication_failed", "The customer failed 3-D Secure authentication."
)
REFUND_FAILED = Decline(
    "expired_or_canceled_card", "The card was expired or canceled; the refund could not be sent."
)

BANK_ACCOUNT_PATTERN = re.compile(r"^ba_[A-Za-z0-9_]{1,64}$")
FAILING_BANK_ACCOUNTS: dict[str, Decline] = {
    "ba_payoutFails": Decline("account_closed", "The bank account has been closed."),
}


def looks_like_token(payment_method: str) -> bool:
    return bool(TOKEN_PATTERN.match(payment_method))


def lookup(payment_method: str) -> Token | None:
    return TOKENS.get(payment_method)


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
