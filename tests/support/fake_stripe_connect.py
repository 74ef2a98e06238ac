"""A fake of Stripe Connect, which localstripe lacks (404): accounts, transfers, transfer
reversals, payouts and the balance transactions they make, in Stripe's documented shapes.

    with serve_fake_connect() as base_url:
        ...  # StripeProvider(key, api_base=localstripe_url, connect_api_base=base_url)

Unlike localstripe it honours ``Idempotency-Key`` as Stripe does: the same key (per account)
with the same parameters replays the first answer (``Idempotent-Replayed: true``), with other
parameters it is a 400 ``idempotency_error``. Requests are form-encoded like the SDK sends
them (``metadata[payout_id]=…``, ``expand[0]=transfer``). Payouts run on the connected account
named by ``Stripe-Account``; a bank account id starting with ``ba_fail`` makes one fail.
Everything is in memory and lost when the server stops.
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

from fastapi import FastAPI
from fastapi import Request
from fastapi.responses import JSONResponse

from tests.support.served import serve_app

_PAGE_LIMIT = 100


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


def create_app() -> FastAPI:
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
            account = {
                "id": _new_id("acct"),
                "object": "account",
                "type": params.get("type", "custom"),
                "country": params.get("country", "US"),
                "metadata": params.get("metadata") or {},
                "payouts_enabled": True,
                "created": int(time.time()),
            }
            store.accounts[account["id"]] = account
            return account

        return await idempotent(request, apply)

    @app.get("/v1/accounts/{account_id}")
    async def get_account(account_id: str) -> dict[str, Any]:
        return _found(store.accounts, account_id, "account")

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
            bank_account = params.get("destination") or "ba_default"
            failed = bank_account.startswith("ba_fail")
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
                "created": int(time.time()),
                "arrival_date": int(time.time()),
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
    # returns it, and accounts made before they were created here.

    @app.post("/_test/accounts/{account_id}")
    async def ensure_account(account_id: str) -> dict[str, Any]:
        """An account under an id of our choosing (Stripe never lets one choose)."""
        with store.lock:
            if account_id not in store.accounts:
                store.accounts[account_id] = {
                    "id": account_id,
                    "object": "account",
                    "type": "custom",
                    "country": "US",
                    "metadata": {},
                    "payouts_enabled": True,
                    "created": int(time.time()),
                }
            return store.accounts[account_id]

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
        rows = [
            row
            for row in store.balance
            if row["_account"] == account
            and row["created"] >= int(created.get("gte", 0))
            and ("lt" not in created or row["created"] < int(created["lt"]))
        ]
        page = _page("/v1/balance_transactions", rows, params)
        if "data.source" in (params.get("expand") or []):
            for row in page["data"]:
                row["source"] = store.sources[row["source"]]
        return page

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
    """``metadata[payout_id]=x&expand[0]=y`` → ``{"metadata": {"payout_id": "x"},
    "expand": ["y"]}`` (Stripe's form encoding, one level of nesting is all we need)."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[]+)\[([^\]]*)\]", key)
        if match is None:
            params[key] = value
            continue
        name, inner = match.groups()
        if inner.isdigit() or inner == "":
            params.setdefault(name, []).append(value)
        else:
            params.setdefault(name, {})[inner] = value
    return params


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@contextmanager
def serve_fake_connect() -> Iterator[str]:
    """Serve the fake over HTTP for the block; yields its base URL."""
    with serve_app(create_app(), "fake Stripe Connect") as url:
        yield url
