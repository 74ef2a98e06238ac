"""A fake of Stripe Connect, which localstripe lacks (404): accounts, transfers, transfer
reversals, payouts and the balance transactions they make, in Stripe's documented shapes;
and disputes, which localstripe lacks too, on localstripe's charges.

    with serve_fake_connect() as base_url:
        ...  # StripeProvider(key, api_base=localstripe_url, connect_api_base=base_url)

Accounts start as Stripe's do before onboarding: no charges, no payouts, requirements
currently due, the ``transfers`` capability inactive. ``POST /v1/account_links`` gives an
onboarding link; the account holder finishing onboarding is the test-only
``POST /v1/test/accounts/{id}/complete_onboarding`` (then the test sends the signed
``account.updated``, as Stripe would). What Stripe refuses, the fake refuses with Stripe's
error: a transfer to an unknown account (``resource_missing`` on ``destination``) or to one
without the capability (``insufficient_capabilities_for_transfer``), a payout from an
account with payouts off (``payouts_not_allowed``), an instant payout to a bank account that
does not take them (``instant_payouts_unsupported``: only ``ba_instant…`` ones do).

Unlike localstripe it honours ``Idempotency-Key`` as Stripe does: the same key (per account)
with the same parameters replays the first answer (``Idempotent-Replayed: true``), with other
parameters it is a 400 ``idempotency_error``. Requests are form-encoded like the SDK sends
them (``metadata[payout_id]=…``, ``expand[0]=transfer``). Payouts run on the connected account
named by ``Stripe-Account``; a bank account id starting with ``ba_fail`` makes one fail.
Everything is in memory and lost when the server stops.

Disputes (``serve_fake_connect(localstripe_url)``): what a cardholder's bank does is a
test-only endpoint, ``POST /_test/disputes`` (``payment_intent=pi_…``: the bank disputes its
charge; Stripe withdraws the amount and a 1500 dispute fee, an ``adjustment`` balance
transaction whose source is the dispute) and ``POST /_test/disputes/{id}/decide``
(``outcome=won|lost``: won reinstates the amount; the fee stays withdrawn, as Stripe keeps the
dispute received fee). The merchant's side is Stripe's API: ``GET /v1/disputes[/{id}]``,
``POST /v1/disputes/{id}`` (``evidence[…]``, ``submit``) and ``POST /v1/disputes/{id}/close``,
both refused once the dispute is closed. ``GET /v1/balance_transactions`` on the platform lists
localstripe's with the fake's own, filtered by ``created`` (localstripe cannot filter).
"""

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI
from fastapi import Request
from fastapi.responses import JSONResponse

from tests.support.served import serve_app

_PAGE_LIMIT = 100
# What an Express account must still provide before Stripe enables it.
ONBOARDING_REQUIREMENTS = [
    "business_type",
    "external_account",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
ACCOUNT_LINK_SECONDS = 300
STANDARD_ARRIVAL_SECONDS = 2 * 86_400


class StripeFailure(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.error = {"type": "invalid_request_error", "message": message, "code": code} | extra


class ConnectStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, dict[str, Any]] = {}
        self.balance: list[dict[str, Any]] = []  # balance transactions, with their account
        self.sources: dict[str, dict[str, Any]] = {}  # what a balance transaction expands to
        self.replays: dict[tuple[str | None, str], tuple[str, int, dict[str, Any]]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}


# What Stripe charges when a dispute is received (USD), and keeps whatever the outcome.
DISPUTE_FEE = 1500
DISPUTE_CLOSED = ("won", "lost", "warning_closed")
EVIDENCE_FIELDS = (
    "customer_email_address",
    "customer_name",
    "product_description",
    "refund_refusal_explanation",
    "shipping_carrier",
    "shipping_tracking_number",
    "uncategorized_text",
)


def create_app(localstripe_url: str | None = None) -> FastAPI:
    app = FastAPI()
    store = ConnectStore()
    app.state.store = store

    @app.exception_handler(StripeFailure)
    async def stripe_failure(request: Request, failure: StripeFailure) -> JSONResponse:
        return JSONResponse({"error": failure.error}, status_code=failure.status)

    @app.middleware("http")
    async def authenticated(request: Request, call_next):
        if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
            error = {"type": "invalid_request_error", "message": "Invalid API Key provided"}
            return JSONResponse({"error": error}, status_code=401)
        return await call_next(request)

    async def idempotent(request: Request, apply) -> JSONResponse:
        """Run ``apply(params, account)`` once per ``Idempotency-Key``, replaying its answer."""
        params = _unflatten(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        account = request.headers.get("Stripe-Account")
        key = request.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(
            json.dumps([request.url.path, params], sort_keys=True).encode()
        ).hexdigest()
        with store.lock:
            if key is not None and (account, key) in store.replays:
                first, status, body = store.replays[(account, key)]
                if first != fingerprint:
                    error = {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the "
                        "same parameters they were first used with.",
                    }
                    return JSONResponse({"error": error}, status_code=400)
                return JSONResponse(
                    body, status_code=status, headers={"Idempotent-Replayed": "true"}
                )
            try:
                status, body = 200, apply(params, account)
            except StripeFailure as failure:
                status, body = failure.status, {"error": failure.error}
            if key is not None:
                store.replays[(account, key)] = (fingerprint, status, body)
        return JSONResponse(body, status_code=status)

    def query(request: Request) -> dict[str, Any]:
        return _unflatten(list(request.query_params.multi_items()))

    @app.post("/v1/accounts")
    async def create_account(request: Request) -> JSONResponse:
        def apply(params: dict[str, Any], _account: str | None) -> dict[str, Any]:
            if params.get("type") not in ("express", "custom", "standard"):
                raise StripeFailure(400, "Missing required param: type.", param="type")
            requested = params.get("capabilities") or {}
            account = {
                "id": _new_id("acct"),
                "object": "account",
                "type": params["type"],
                "country": params.get("country", "US"),
                "metadata": params.get("metadata") or {},
                "capabilities": {name: "inactive" for name in requested},
                "charges_enabled": False,
                "payouts_enabled": False,
                "details_submitted": False,
                "requirements": {
                    "currently_due": list(ONBOARDING_REQUIREMENTS),
                    "eventually_due": list(ONBOARDING_REQUIREMENTS),
                    "past_due": list(ONBOARDING_REQUIREMENTS),
                    "disabled_reason": "requirements.past_due",
                },
                "created": int(time.time()),
            }
            store.accounts[account["id"]] = account
            return account

        return await idempotent(request, apply)

    @app.get("/v1/accounts/{account_id}")
    async def get_account(account_id: str) -> dict[str, Any]:
        return _found(store.accounts, account_id, "account")

    @app.post("/v1/account_links")
    async def create_account_link(request: Request) -> JSONResponse:
        def apply(params: dict[str, Any], _account: str | None) -> dict[str, Any]:
            for name in ("account", "type"):
                if not params.get(name):
                    raise StripeFailure(400, f"Missing required param: {name}.", param=name)
            if params["account"] not in store.accounts:
                raise StripeFailure(
                    400,
                    f"No such account: '{params['account']}'",
                    code="resource_missing",
                    param="account",
                )
            if params["type"] not in ("account_onboarding", "account_update"):
                raise StripeFailure(
                    400,
                    "Invalid type: must be one of account_onboarding or account_update",
                    param="type",
                )
            for name in ("refresh_url", "return_url"):
                if not str(params.get(name, "")).startswith(("https://", "http://")):
                    raise StripeFailure(400, f"Not a valid URL: {name}", param=name)
            created = int(time.time())
            return {
                "object": "account_link",
                "created": created,
                "expires_at": created + ACCOUNT_LINK_SECONDS,
                "url": f"https://connect.stripe.com/setup/e/{params['account']}/"
                f"{secrets.token_urlsafe(16)}",
            }

        return await idempotent(request, apply)

    @app.post("/v1/test/accounts/{account_id}/complete_onboarding")
    async def complete_onboarding(account_id: str) -> dict[str, Any]:
        """Test only: the account holder finished Stripe's onboarding pages."""
        with store.lock:
            account = _found(store.accounts, account_id, "account")
            account["capabilities"] = {name: "active" for name in account["capabilities"]}
            account |= {"charges_enabled": True, "payouts_enabled": True}
            account["details_submitted"] = True
            account["requirements"] = {
                "currently_due": [],
                "eventually_due": [],
                "past_due": [],
                "disabled_reason": None,
            }
            return json.loads(json.dumps(account))

    @app.post("/v1/transfers")
    async def create_transfer(request: Request) -> JSONResponse:
        def apply(params: dict[str, Any], _account: str | None) -> dict[str, Any]:
            amount, currency = _money(params)
            destination = params.get("destination")
            if destination not in store.accounts:
                raise StripeFailure(
                    400,
                    f"No such destination: '{destination}'",
                    code="resource_missing",
                    param="destination",
                )
            capabilities = store.accounts[destination].get("capabilities") or {}
            if capabilities.get("transfers") != "active":
                raise StripeFailure(
                    400,
                    "Your destination account needs to have at least one of the following "
                    "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    code="insufficient_capabilities_for_transfer",
                    param="destination",
                )
            transfer = {
                "id": _new_id("tr"),
                "object": "transfer",
                "amount": amount,
                "amount_reversed": 0,
                "currency": currency,
                "destination": destination,
                "metadata": params.get("metadata") or {},
                "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0},
                "reversed": False,
                "transfer_group": params.get("transfer_group"),
                "created": int(time.time()),
            }
            transfer["reversals"]["url"] = f"/v1/transfers/{transfer['id']}/reversals"
            store.transfers[transfer["id"]] = transfer
            _move(store, None, -amount, currency, "transfer", transfer)
            return transfer

        return await idempotent(request, apply)

    @app.get("/v1/transfers")
    async def list_transfers(request: Request) -> dict[str, Any]:
        params = query(request)
        rows = [
            transfer
            for transfer in store.transfers.values()
            if all(
                transfer.get(name) == params[name]
                for name in ("destination", "transfer_group")
                if name in params
            )
        ]
        return _page("/v1/transfers", rows, params)

    @app.get("/v1/transfers/{transfer_id}")
    async def get_transfer(transfer_id: str) -> dict[str, Any]:
        return _found(store.transfers, transfer_id, "transfer")

    @app.post("/v1/transfers/{transfer_id}/reversals")
    async def reverse_transfer(request: Request, transfer_id: str) -> JSONResponse:
        def apply(params: dict[str, Any], _account: str | None) -> dict[str, Any]:
            transfer = _found(store.transfers, transfer_id, "transfer")
            left = transfer["amount"] - transfer["amount_reversed"]
            amount = int(params.get("amount", left))
            if not 0 < amount <= left:
                raise StripeFailure(
                    400,
                    f"You cannot reverse {amount}: {left} of the transfer is left to reverse.",
                    param="amount",
                )
            reversal = {
                "id": _new_id("trr"),
                "object": "transfer_reversal",
                "amount": amount,
                "currency": transfer["currency"],
                "transfer": transfer_id,
                "metadata": params.get("metadata") or {},
                "created": int(time.time()),
            }
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
            transfer["reversals"]["data"].insert(0, reversal)
            transfer["reversals"]["total_count"] += 1
            _move(store, None, amount, transfer["currency"], "transfer_refund", reversal)
            if "transfer" in (params.get("expand") or []):
                return reversal | {"transfer": json.loads(json.dumps(transfer))}
            return dict(reversal)

        return await idempotent(request, apply)

    @app.post("/v1/payouts")
    async def create_payout(request: Request) -> JSONResponse:
        def apply(params: dict[str, Any], account: str | None) -> dict[str, Any]:
            amount, currency = _money(params)
            if account is not None and account not in store.accounts:
                raise StripeFailure(403, f"No such account: '{account}'", code="account_invalid")
            if account is not None and not store.accounts[account]["payouts_enabled"]:
                raise StripeFailure(
                    400,
                    "Payouts have been disabled on the connected account. Check the connected "
                    "account's status to see if any additional information needs to be "
                    "provided, or if payouts have been disabled for another reason.",
                    code="payouts_not_allowed",
                )
            bank_account = params.get("destination") or "ba_default"
            method = params.get("method", "standard")
            if method not in ("standard", "instant"):
                raise StripeFailure(
                    400, "Invalid method: must be one of standard or instant", param="method"
                )
            if method == "instant" and not bank_account.startswith("ba_instant"):
                raise StripeFailure(
                    400,
                    "This card is not eligible for Instant Payouts. Try a debit card from a "
                    "supported bank.",
                    code="instant_payouts_unsupported",
                    param="destination",
                )
            failed = bank_account.startswith("ba_fail")
            now = int(time.time())
            payout = {
                "id": _new_id("po"),
                "object": "payout",
                "amount": amount,
                "currency": currency,
                "destination": bank_account,
                "metadata": params.get("metadata") or {},
                # Stripe's payouts start pending; the bank's answer comes later (below).
                "status": "failed" if failed else "pending",
                "failure_code": "account_closed" if failed else None,
                "failure_message": "The bank account has been closed." if failed else None,
                "type": "bank_account",
                "method": method,
                "created": now,
                "arrival_date": now if method == "instant" else now + STANDARD_ARRIVAL_SECONDS,
            }
            store.payouts[payout["id"]] = payout | {"_account": account}
            if not failed:
                _move(store, account, -amount, currency, "payout", payout)
            return payout

        return await idempotent(request, apply)

    @app.get("/v1/payouts")
    async def list_payouts(request: Request) -> dict[str, Any]:
        account = request.headers.get("Stripe-Account")
        rows = [p for p in store.payouts.values() if p["_account"] == account]
        return _page("/v1/payouts", rows, query(request))

    @app.get("/v1/payouts/{payout_id}")
    async def get_payout(request: Request, payout_id: str) -> dict[str, Any]:
        payout = _found(store.payouts, payout_id, "payout")
        if payout["_account"] != request.headers.get("Stripe-Account"):
            raise StripeFailure(404, f"No such payout: '{payout_id}'", code="resource_missing")
        return _public(payout)

    # Test-only routes for what Stripe does on its own, later: the bank pays a payout out or
    # returns it.

    @app.post("/_test/payouts/{payout_id}/paid")
    async def payout_paid(payout_id: str) -> dict[str, Any]:
        """The bank received the payout (``payout.paid``)."""
        with store.lock:
            payout = _found(store.payouts, payout_id, "payout")
            if payout["status"] not in ("pending", "in_transit"):
                raise StripeFailure(400, f"Payout {payout_id} is {payout['status']}")
            payout |= {"status": "paid", "arrival_date": int(time.time())}
            return _public(payout)

    @app.post("/_test/payouts/{payout_id}/fail")
    async def payout_failed(request: Request, payout_id: str) -> dict[str, Any]:
        """The bank returned the payout (``payout.failed``, possibly after ``paid``): the money
        is back in the connected account's balance, as a ``payout_failure`` transaction."""
        params = _unflatten(parse_qsl((await request.body()).decode()))
        code = params.get("failure_code", "account_closed")
        if code not in PAYOUT_FAILURES:
            raise StripeFailure(400, f"Invalid failure_code: {code}", param="failure_code")
        with store.lock:
            payout = _found(store.payouts, payout_id, "payout")
            if payout["status"] in ("failed", "canceled"):
                raise StripeFailure(400, f"Payout {payout_id} is {payout['status']}")
            payout |= {
                "status": "failed",
                "failure_code": code,
                "failure_message": PAYOUT_FAILURES[code],
            }
            payout["failure_balance_transaction"] = _move(
                store,
                payout["_account"],
                payout["amount"],
                payout["currency"],
                "payout_failure",
                payout,
                created=int(time.time()),
            )
            return _public(payout)

    @app.get("/v1/balance_transactions")
    async def list_balance_transactions(request: Request) -> dict[str, Any]:
        params = query(request)
        account = request.headers.get("Stripe-Account")
        created = params.get("created") or {}
        expand = "data.source" in (params.get("expand") or [])
        rows = [
            dict(row, source=store.sources[row["source"]]) if expand else row
            for row in store.balance
            if row["_account"] == account
        ]
        if localstripe_url and account is None:
            rows += await _localstripe_transactions(request, expand)
        rows = [
            row
            for row in sorted(rows, key=lambda row: row["created"])
            if row["created"] >= int(created.get("gte", 0))
            and ("lt" not in created or row["created"] < int(created["lt"]))
        ]
        return _page("/v1/balance_transactions", rows, params)

    async def _localstripe_transactions(request: Request, expand: bool) -> list[dict[str, Any]]:
        """Every balance transaction localstripe holds (all pages), sources expanded."""
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100} | ({"expand[]": "data.source"} if expand else {})
        async with _localstripe(request) as client:
            while True:
                page = (await client.get("/v1/balance_transactions", params=params)).json()
                rows += page["data"]
                if not page.get("has_more") or not page["data"]:
                    break
                params["starting_after"] = page["data"][-1]["id"]
            if expand:
                await _with_intent_metadata(client, rows)
        return rows

    async def _with_intent_metadata(client: httpx.AsyncClient, rows: list[dict[str, Any]]) -> None:
        """Stripe copies a PaymentIntent's metadata to the charge it creates when it is
        confirmed; localstripe does not, so the charges get it here."""
        intents: dict[str, dict[str, Any]] = {}
        for row in rows:
            source = row.get("source")
            if not isinstance(source, dict) or source.get("object") != "charge":
                continue
            intent = source.get("payment_intent")
            if source.get("metadata") or not intent:
                continue
            if intent not in intents:
                intents[intent] = (await client.get(f"/v1/payment_intents/{intent}")).json()
            source["metadata"] = intents[intent].get("metadata") or {}

    def _localstripe(request: Request) -> httpx.AsyncClient:
        assert localstripe_url, "disputes need localstripe's charges"
        auth = {"Authorization": request.headers.get("Authorization", "")}
        return httpx.AsyncClient(base_url=localstripe_url, headers=auth, timeout=10)

    # Disputes: the cardholder's bank (test-only endpoints), then Stripe's API.

    @app.post("/_test/disputes")
    async def open_dispute(request: Request) -> dict[str, Any]:
        params = _unflatten(parse_qsl((await request.body()).decode()))
        async with _localstripe(request) as client:
            answer = await client.get(f"/v1/payment_intents/{params.get('payment_intent')}")
        if answer.status_code != 200:
            raise StripeFailure(answer.status_code, answer.json()["error"]["message"])
        intent = answer.json()
        charge = intent.get("latest_charge")
        amount = int(params.get("amount", intent["amount"]))
        now = int(time.time())
        dispute = {
            "id": _new_id("du"),
            "object": "dispute",
            "amount": amount,
            "balance_transactions": [],
            "charge": charge["id"] if isinstance(charge, dict) else charge,
            "payment_intent": intent["id"],
            "created": now,
            "currency": intent["currency"],
            "evidence": dict.fromkeys(EVIDENCE_FIELDS),
            "evidence_details": {
                "due_by": now + 7 * 86400,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "reason": params.get("reason", "fraudulent"),
            "status": "needs_response",
        }
        with store.lock:
            store.disputes[dispute["id"]] = dispute
            _dispute_funds(store, dispute, -amount, DISPUTE_FEE, "dispute")
        return _dispute_answer(dispute)

    @app.post("/_test/disputes/{dispute_id}/decide")
    async def decide_dispute(request: Request, dispute_id: str) -> dict[str, Any]:
        params = _unflatten(parse_qsl((await request.body()).decode()))
        outcome = params.get("outcome")
        with store.lock:
            dispute = _found(store.disputes, dispute_id, "dispute")
            if outcome not in ("won", "lost") or dispute["status"] in DISPUTE_CLOSED:
                raise StripeFailure(400, f"cannot decide {outcome} on a {dispute['status']}")
            dispute["status"] = outcome
            if outcome == "won":
                _dispute_funds(store, dispute, dispute["amount"], 0, "dispute_reversal")
        return _dispute_answer(dispute)

    @app.get("/v1/disputes")
    async def list_disputes(request: Request) -> dict[str, Any]:
        rows = sorted(store.disputes.values(), key=lambda dispute: dispute["created"])
        return _page("/v1/disputes", rows, query(request))

    @app.get("/v1/disputes/{dispute_id}")
    async def get_dispute(dispute_id: str) -> dict[str, Any]:
        return _dispute_answer(_found(store.disputes, dispute_id, "dispute"))

    @app.post("/v1/disputes/{dispute_id}")
    async def update_dispute(request: Request, dispute_id: str) -> JSONResponse:
        def apply(params: dict[str, Any], _account: str | None) -> dict[str, Any]:
            dispute = _open_dispute(store, dispute_id)
            evidence = params.get("evidence") or {}
            unknown = sorted(set(evidence) - set(EVIDENCE_FIELDS))
            if unknown:
                raise StripeFailure(
                    400, f"Received unknown parameter: evidence[{unknown[0]}]", param="evidence"
                )
            dispute["evidence"].update(evidence)
            dispute["evidence_details"]["has_evidence"] = any(dispute["evidence"].values())
            if params.get("submit") == "true":
                dispute["evidence_details"]["submission_count"] += 1
                dispute["status"] = (
                    "warning_under_review"
                    if dispute["status"].startswith("warning")
                    else "under_review"
                )
            return _dispute_answer(dispute)

        return await idempotent(request, apply)

    @app.post("/v1/disputes/{dispute_id}/close")
    async def close_dispute(request: Request, dispute_id: str) -> JSONResponse:
        def apply(_params: dict[str, Any], _account: str | None) -> dict[str, Any]:
            dispute = _open_dispute(store, dispute_id)
            dispute["status"] = "lost"
            return _dispute_answer(dispute)

        return await idempotent(request, apply)

    return app


# Some of Stripe's documented payout failure codes, with its messages.
PAYOUT_FAILURES = {
    "account_closed": "The bank account has been closed.",
    "no_account": "The bank account details on file are probably incorrect.",
    "account_frozen": "The bank account has been frozen.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if not key.startswith("_")}


def _open_dispute(store: ConnectStore, dispute_id: str) -> dict[str, Any]:
    """A dispute that can still be answered: Stripe refuses evidence or a close once the
    dispute is closed (or a response is under review)."""
    dispute = _found(store.disputes, dispute_id, "dispute")
    if dispute["status"] in DISPUTE_CLOSED:
        raise StripeFailure(
            400, f"This dispute is already closed ({dispute['status']}); it cannot be updated."
        )
    if dispute["status"] in ("under_review", "warning_under_review"):
        raise StripeFailure(400, "This dispute's evidence has already been submitted.")
    return dispute


def _dispute_funds(
    store: ConnectStore, dispute: dict[str, Any], amount: int, fee: int, category: str
) -> None:
    """A withdrawal (negative) or reinstatement of the dispute's money: an ``adjustment``
    balance transaction on the platform, listed on the dispute too."""
    store.sources[dispute["id"]] = dispute
    row = {
        "id": _new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "currency": dispute["currency"],
        "fee": fee,
        "fee_details": (
            [{"amount": fee, "currency": dispute["currency"], "type": "stripe_fee"}] if fee else []
        ),
        "net": amount - fee,
        "type": "adjustment",
        "reporting_category": category,
        "source": dispute["id"],
        "status": "available",
        "created": int(time.time()),
        "_account": None,
    }
    store.balance.append(row)
    dispute["balance_transactions"].append(row)


def _dispute_answer(dispute: dict[str, Any]) -> dict[str, Any]:
    answer = json.loads(json.dumps(dispute))
    answer["balance_transactions"] = [
        {key: value for key, value in row.items() if not key.startswith("_")}
        for row in answer["balance_transactions"]
    ]
    return answer


def _money(params: dict[str, Any]) -> tuple[int, str]:
    try:
        amount = int(params.get("amount", ""))
    except ValueError:
        raise StripeFailure(400, "Invalid integer: amount", param="amount") from None
    currency = params.get("currency")
    if amount <= 0 or not currency:
        raise StripeFailure(400, "A positive amount and a currency are required.")
    return amount, currency


def _move(
    store: ConnectStore,
    account: str | None,
    amount: int,
    currency: str,
    kind: str,
    source: dict[str, Any],
    created: int | None = None,
) -> str:
    """Record a balance transaction of ``source`` (at its creation unless ``created``)."""
    store.sources[source["id"]] = source
    transaction_id = _new_id("txn")
    store.balance.append(
        {
            "id": transaction_id,
            "object": "balance_transaction",
            "amount": amount,
            "currency": currency,
            "fee": 0,
            "net": amount,
            "type": kind,
            "source": source["id"],
            "status": "available",
            "created": source["created"] if created is None else created,
            "_account": account,
        }
    )
    return transaction_id


def _found(rows: dict[str, dict[str, Any]], object_id: str, kind: str) -> dict[str, Any]:
    if object_id not in rows:
        raise StripeFailure(404, f"No such {kind}: '{object_id}'", code="resource_missing")
    return rows[object_id]


def _page(url: str, rows: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Stripe list pagination: newest first, ``limit`` and ``starting_after``."""
    newest_first = list(reversed(rows))
    start = 0
    if "starting_after" in params:
        ids = [row["id"] for row in newest_first]
        start = ids.index(params["starting_after"]) + 1 if params["starting_after"] in ids else 0
    limit = min(int(params.get("limit", 10)), _PAGE_LIMIT)
    data = [
        {key: value for key, value in row.items() if not key.startswith("_")}
        for row in newest_first[start : start + limit]
    ]
    return {
        "object": "list",
        "url": url,
        "data": json.loads(json.dumps(data)),
        "has_more": start + limit < len(newest_first),
    }


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``metadata[payout_id]=x&expand[0]=y&capabilities[transfers][requested]=true`` →
    ``{"metadata": {"payout_id": "x"}, "expand": ["y"], "capabilities": {"transfers":
    {"requested": "true"}}}`` (Stripe's form encoding; a list holds values, not objects)."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        name = key.split("[", 1)[0]
        inner = re.findall(r"\[([^\]]*)\]", key)
        if not inner:
            params[name] = value
            continue
        if inner[0].isdigit() or inner[0] == "":
            params.setdefault(name, []).append(value)
            continue
        node = params.setdefault(name, {})
        for part in inner[:-1]:
            node = node.setdefault(part, {})
        node[inner[-1]] = value
    return params


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


async def onboarded_account(base_url: str, api_key: str) -> str:
    """A connected account made on the fake and onboarded at once, as a test needs one
    that can take transfers and payouts; its id."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
        made = await client.post(
            "/v1/accounts", data={"type": "express", "capabilities[transfers][requested]": "true"}
        )
        account_id = made.raise_for_status().json()["id"]
        onboarded = await client.post(f"/v1/test/accounts/{account_id}/complete_onboarding")
        onboarded.raise_for_status()
    return account_id


@contextmanager
def serve_fake_connect(localstripe_url: str | None = None) -> Iterator[str]:
    """Serve the fake over HTTP for the block; yields its base URL. With localstripe's URL
    it also serves disputes on localstripe's charges."""
    with serve_app(create_app(localstripe_url), "fake Stripe Connect") as url:
        yield url
