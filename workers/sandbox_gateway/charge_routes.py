"""Routes of charges and their refunds (the contract other parts code against).

==========================================  ==============================================
``POST /v1/charges``                        CreateCharge → charge (402 card_error: declined)
``POST /v1/charges/{id}/capture``           {amount?} → charge
``POST /v1/charges/{id}/void``              {} → charge
``POST /v1/charges/{id}/refund``            {amount?} → charge (402: the refund failed)
``POST /v1/charges/{id}/confirm``           {} → charge
``GET /v1/charges?reference=&limit=``       list of charges, newest first
``GET /v1/charges/{id}``                    charge
``GET /v1/charges/{id}/3ds``                the customer's challenge page (HTML)
``POST /v1/charges/{id}/3ds/complete``      {outcome} → charge (the customer, no key)
``POST /v1/refunds``                        {charge, amount?, reference?} → refund
``GET /v1/refunds?reference=&charge=``      list of refunds, newest first
``GET /v1/refunds/{id}``                    refund
==========================================  ==============================================

Every POST but the customer's needs an ``Idempotency-Key`` (``Routing.money_moving``).
A charge of a saved method names it (``pm_…``) with its ``customer``, and ``off_session``
when the customer is away (``customers``, ``customer_routes``).
"""

from collections.abc import Callable

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.responses import Response

from workers.sandbox_gateway import challenge
from workers.sandbox_gateway import charges
from workers.sandbox_gateway import refunds
from workers.sandbox_gateway.bodies import AmountBody
from workers.sandbox_gateway.bodies import ChallengeOutcome
from workers.sandbox_gateway.bodies import CreateCharge
from workers.sandbox_gateway.bodies import CreateRefund
from workers.sandbox_gateway.bodies import EmptyBody
from workers.sandbox_gateway.bodies import parse
from workers.sandbox_gateway.faults import Operation
from workers.sandbox_gateway.idempotency import Answer
from workers.sandbox_gateway.routing import Body
from workers.sandbox_gateway.routing import Limit
from workers.sandbox_gateway.routing import Routing
from workers.sandbox_gateway.store import Tx


def router(routing: Routing, public_url: str | None) -> APIRouter:
    api = APIRouter()

    def base_url(request: Request) -> str:
        return (public_url or str(request.base_url)).rstrip("/")

    @api.post("/v1/charges")
    async def create_charge(request: Request) -> Response:
        url = base_url(request)
        return await routing.money_moving(
            request, "charge", CreateCharge, lambda tx, body: charges.create(tx, body, url)
        )

    def charge_operation(
        operation: Operation, model: type[Body], apply: Callable[[Tx, str, Body], Answer]
    ) -> None:
        """``POST /v1/charges/{id}/<operation>``: ``apply(tx, the charge's id, body)``."""

        @api.post(f"/v1/charges/{{charge_id}}/{operation}")
        async def operate(charge_id: str, request: Request) -> Response:
            return await routing.money_moving(
                request, operation, model, lambda tx, body: apply(tx, charge_id, body)
            )

    charge_operation("capture", AmountBody, charges.capture)
    charge_operation("void", EmptyBody, lambda tx, charge_id, _: charges.void(tx, charge_id))
    charge_operation("refund", AmountBody, refunds.refund_charge)
    charge_operation("confirm", EmptyBody, lambda tx, charge_id, _: charges.confirm(tx, charge_id))

    routing.add_lookups(api, "charges", charges.get, charges.find)

    @api.get("/v1/charges/{charge_id}/3ds", response_class=HTMLResponse)
    async def challenge_page(charge_id: str) -> HTMLResponse:
        charge = await routing.read(lambda tx: charges.get(tx, charge_id))
        return HTMLResponse(challenge.page(charge))

    @api.post("/v1/charges/{charge_id}/3ds/complete")
    async def complete_challenge(charge_id: str, request: Request) -> dict:
        body = await parse(request, ChallengeOutcome)
        return await routing.read(
            lambda tx: charges.complete_challenge(tx, charge_id, body.outcome)
        )

    @api.post("/v1/refunds")
    async def create_refund(request: Request) -> Response:
        return await routing.money_moving(request, "refund", CreateRefund, refunds.create)

    @api.get("/v1/refunds")
    async def list_refunds(
        reference: str | None = None, charge: str | None = None, limit: Limit = 100
    ) -> dict:
        return await routing.read(lambda tx: refunds.find(tx, reference, charge, limit))

    @api.get("/v1/refunds/{refund_id}")
    async def get_refund(refund_id: str) -> dict:
        return await routing.read(lambda tx: refunds.get(tx, refund_id))

    return api
