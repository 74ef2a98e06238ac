"""Routes of money leaving the platform's balance, and of the balance itself.

==============================================  ===========================================
``POST /v1/transfers``                          {amount, currency, destination, reference}
                                                → transfer (402 balance_insufficient)
``POST /v1/transfers/{id}/reversals``           {amount?, reference?} → transfer
``GET /v1/transfers?reference=``                list of transfers, newest first
``GET /v1/transfers/{id}``                      transfer
``POST /v1/payouts``                            {amount, currency, destination,
                                                bank_account, reference, method?} → payout
                                                (402 balance_insufficient, 400
                                                payouts_not_allowed,
                                                instant_payouts_unsupported)
``GET /v1/payouts?reference=``                  list of payouts, newest first
``GET /v1/payouts/{id}``                        payout
``POST /v1/accounts``                           {reference} → account (not onboarded)
``GET /v1/accounts/{id}``                       account
``POST /v1/account_links``                      {account, refresh_url, return_url}
                                                → {url, expires_at}
``GET /v1/accounts/{id}/onboarding``            the account holder's onboarding page
``POST /v1/accounts/{id}/onboarding/complete``  account, onboarded (what the page does)
``GET /v1/balance?account=``                    {available: [{currency, amount}]}
``GET /v1/balance_transactions?created_gte=``   {data, has_more}, oldest first
``&created_lt=&limit=&starting_after=``
==============================================  ===========================================
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from fastapi import Query
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.responses import Response

from workers.sandbox_gateway import accounts
from workers.sandbox_gateway import balance
from workers.sandbox_gateway import ledger
from workers.sandbox_gateway import payouts
from workers.sandbox_gateway import transfers
from workers.sandbox_gateway.bodies import CreateAccount
from workers.sandbox_gateway.bodies import CreateAccountLink
from workers.sandbox_gateway.bodies import CreatePayout
from workers.sandbox_gateway.bodies import CreateTransfer
from workers.sandbox_gateway.bodies import ReverseTransfer
from workers.sandbox_gateway.bodies import parse
from workers.sandbox_gateway.routing import Routing


def router(routing: Routing, public_url: str | None) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/accounts")
    async def create_account(request: Request) -> Response:
        return await routing.money_moving(request, "account", CreateAccount, accounts.create)

    @api.get("/v1/accounts/{account_id}")
    async def get_account(account_id: str) -> dict:
        return await routing.read(lambda tx: accounts.get(tx, account_id))

    @api.post("/v1/account_links")
    async def create_account_link(request: Request) -> dict:
        body = await parse(request, CreateAccountLink)
        base = (public_url or str(request.base_url)).rstrip("/")
        return await routing.read(lambda tx: accounts.link(tx, body.account, base))

    @api.get("/v1/accounts/{account_id}/onboarding", response_class=HTMLResponse)
    async def onboarding_page(account_id: str) -> str:
        await routing.read(lambda tx: accounts.get(tx, account_id))
        return accounts.page(account_id)

    @api.post("/v1/accounts/{account_id}/onboarding/complete")
    async def complete_onboarding(account_id: str) -> dict:
        return await routing.read(lambda tx: accounts.complete_onboarding(tx, account_id))

    @api.post("/v1/transfers")
    async def create_transfer(request: Request) -> Response:
        return await routing.money_moving(request, "transfer", CreateTransfer, transfers.create)

    @api.post("/v1/transfers/{transfer_id}/reversals")
    async def reverse_transfer(transfer_id: str, request: Request) -> Response:
        return await routing.money_moving(
            request,
            "transfer_reversal",
            ReverseTransfer,
            lambda tx, body: transfers.reverse(tx, transfer_id, body),
        )

    routing.add_lookups(api, "transfers", transfers.get, transfers.find)

    @api.post("/v1/payouts")
    async def create_payout(request: Request) -> Response:
        return await routing.money_moving(request, "payout", CreatePayout, payouts.create)

    routing.add_lookups(api, "payouts", payouts.get, payouts.find)

    @api.get("/v1/balance")
    async def get_balance(account: str | None = None) -> dict:
        return await routing.read(lambda tx: balance.render(tx, account))

    @api.get("/v1/balance_transactions")
    async def list_balance_transactions(
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        starting_after: str | None = None,
    ) -> dict:
        return await routing.read(
            lambda tx: ledger.page(
                tx,
                created_gte=created_gte,
                created_lt=created_lt,
                limit=limit,
                starting_after=starting_after,
            )
        )

    return api
