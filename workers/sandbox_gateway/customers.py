"""Customers (``cus_…``) and the payment methods saved for them (``pm_…``), as Stripe keeps
them: a test token saved for a customer becomes a method of its own, charged again and
again (off-session too) for that customer only, until it is detached; a detached method can
never be used again. Saving a token checks it as a charge would: an unknown token is
``token_not_found``, a declining card is refused with its decline (402), except
``tok_chargeCustomerFail``, which saves and then declines every charge.
"""

import logging
from typing import Any

from workers.sandbox_gateway import lists
from workers.sandbox_gateway import tokens
from workers.sandbox_gateway.bodies import AttachMethod
from workers.sandbox_gateway.bodies import CreateCustomer
from workers.sandbox_gateway.bodies import UpdateCustomer
from workers.sandbox_gateway.errors import CardRefused
from workers.sandbox_gateway.errors import invalid_request
from workers.sandbox_gateway.errors import resource_missing
from workers.sandbox_gateway.idempotency import Answer
from workers.sandbox_gateway.rows import Customer
from workers.sandbox_gateway.rows import SavedMethod
from workers.sandbox_gateway.rows import new_id
from workers.sandbox_gateway.store import Tx

log = logging.getLogger("sandbox_gateway")

ATTACHED, DETACHED = "attached", "detached"
# Stripe's words for a method that is not (or no longer) attached to a customer.
NOT_REUSABLE = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
    "attachment, shared with a connected account without Customer attachment, or was "
    "detached from a Customer. It may not be used again. To use a PaymentMethod multiple "
    "times, you must attach it to a Customer first."
)


def render(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "object": "customer",
        "reference": customer.reference,
        "default_payment_method": customer.default_payment_method,
        "created": customer.created,
    }


def render_method(method: SavedMethod) -> dict[str, Any]:
    return {
        "id": method.id,
        "object": "payment_method",
        "customer": method.customer,
        "status": method.status,
        "card": {
            "brand": method.brand,
            "last4": method.last4,
            "exp_month": method.exp_month,
            "exp_year": method.exp_year,
            "fingerprint": method.fingerprint,
        },
        "created": method.created,
    }


def create(tx: Tx, body: CreateCustomer) -> Answer:
    customer = Customer(id=new_id("cus"), reference=body.reference)
    tx.insert(customer)
    log.info("customer %s for %s", customer.id, customer.reference)
    return Answer(200, render(customer), None)


def get(tx: Tx, customer_id: str) -> dict[str, Any]:
    return render(existing(tx, customer_id))


def existing(tx: Tx, customer_id: str) -> Customer:
    customer = tx.get(Customer, customer_id)
    if customer is None:
        raise resource_missing(customer_id, "customer")
    return customer


def attach(tx: Tx, customer_id: str, body: AttachMethod) -> Answer:
    """The token saved for the customer: a new ``pm_…`` (402 when the card is refused)."""
    customer = existing(tx, customer_id)
    token = tokens.known(body.payment_method)
    if not token.saves:
        assert token.decline is not None
        raise CardRefused(token.decline.error())
    card = SavedMethod(
        id=new_id("pm"),
        customer=customer.id,
        token=body.payment_method,
        brand=token.brand,
        last4=token.last4,
        exp_month=token.exp_month,
        exp_year=token.exp_year,
        fingerprint=token.fingerprint,
    )
    tx.insert(card)
    log.info("payment method %s saved for %s", card.id, customer.id)
    return Answer(200, render_method(card), None)


def detach(tx: Tx, method_id: str) -> Answer:
    method = existing_method(tx, method_id)
    if method.status != ATTACHED:
        raise invalid_request(
            "payment_method_unexpected_state",
            f"The payment method {method_id} is not attached to a customer so detachment "
            "is impossible.",
        )
    owner = tx.get(Customer, method.customer) if method.customer else None
    if owner is not None and owner.default_payment_method == method.id:
        owner.default_payment_method = None
        tx.update(owner)
    method.status, method.customer = DETACHED, None
    tx.update(method)
    log.info("payment method %s detached", method.id)
    return Answer(200, render_method(method), None)


def set_default(tx: Tx, customer_id: str, body: UpdateCustomer) -> dict[str, Any]:
    """Naturally idempotent (it sets a value), so no key is needed, as for Stripe's update."""
    customer = existing(tx, customer_id)
    method = tx.get(SavedMethod, body.default_payment_method)
    if method is None or method.customer != customer.id:
        raise invalid_request(
            "resource_missing",
            f"The customer {customer_id} has no attached payment method "
            f"{body.default_payment_method}.",
        )
    customer.default_payment_method = method.id
    tx.update(customer)
    return render(customer)


def existing_method(tx: Tx, method_id: str) -> SavedMethod:
    method = tx.get(SavedMethod, method_id)
    if method is None:
        raise resource_missing(method_id, "payment method")
    return method


def get_method(tx: Tx, method_id: str) -> dict[str, Any]:
    return render_method(existing_method(tx, method_id))


def methods_of(tx: Tx, customer_id: str, limit: int) -> dict[str, Any]:
    existing(tx, customer_id)
    return lists.matching(tx, SavedMethod, render_method, limit, customer=customer_id)


def charged_token(tx: Tx, payment_method: str, customer_id: str | None, off_session: bool) -> str:
    """The token a charge uses: a saved method's, for its own customer only (400 otherwise,
    Stripe's refusals); a bare token as it is, but never off-session (nobody saved it)."""
    if customer_id is not None:
        existing(tx, customer_id)
    method = tx.get(SavedMethod, payment_method)
    if method is None:
        if off_session:
            raise invalid_request("payment_method_not_reusable", NOT_REUSABLE)
        return payment_method
    if method.status != ATTACHED:
        raise invalid_request("payment_method_not_reusable", NOT_REUSABLE)
    if method.customer != customer_id:
        message = (
            f"The provided PaymentMethod {method.id} belongs to another Customer"
            if customer_id
            else f"The provided PaymentMethod {method.id} is attached to a Customer; "
            "pass that customer"
        )
        raise invalid_request("payment_method_customer_mismatch", message)
    return method.token
