"""Routes of customers and the payment methods saved for them (``customers``).

==============================================  ===========================================
``POST /v1/customers``                          {reference} → customer
``GET /v1/customers/{id}``                      customer
``POST /v1/customers/{id}``                     {default_payment_method} → customer
                                                (no key needed: it only sets a value)
``POST /v1/customers/{id}/payment_methods``     {payment_method: tok_…} → payment method
                                                ``pm_…`` (402 card_error: refused)
``GET /v1/customers/{id}/payment_methods``      list of its attached methods, newest first
``GET /v1/payment_methods/{id}``                payment method
``POST /v1/payment_methods/{id}/detach``        {} → payment method, detached for good
==============================================  ===========================================
"""

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import Response

from workers.sandbox_gateway import customers
from workers.sandbox_gateway.bodies import AttachMethod
from workers.sandbox_gateway.bodies import CreateCustomer
from workers.sandbox_gateway.bodies import EmptyBody
from workers.sandbox_gateway.bodies import UpdateCustomer
from workers.sandbox_gateway.bodies import parse
from workers.sandbox_gateway.routing import Limit
from workers.sandbox_gateway.routing import Routing


def router(routing: Routing) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/customers")
    async def create_customer(request: Request) -> Response:
        return await routing.money_moving(request, "customer", CreateCustomer, customers.create)

    @api.get("/v1/customers/{customer_id}")
    async def get_customer(customer_id: str) -> dict:
        return await routing.read(lambda tx: customers.get(tx, customer_id))

    @api.post("/v1/customers/{customer_id}")
    async def update_customer(customer_id: str, request: Request) -> dict:
        body = await parse(request, UpdateCustomer)
        return await routing.read(lambda tx: customers.set_default(tx, customer_id, body))

    @api.post("/v1/customers/{customer_id}/payment_methods")
    async def attach(customer_id: str, request: Request) -> Response:
        return await routing.money_moving(
            request,
            "attach_method",
            AttachMethod,
            lambda tx, body: customers.attach(tx, customer_id, body),
        )

    @api.get("/v1/customers/{customer_id}/payment_methods")
    async def list_methods(customer_id: str, limit: Limit = 100) -> dict:
        return await routing.read(lambda tx: customers.methods_of(tx, customer_id, limit))

    @api.get("/v1/payment_methods/{method_id}")
    async def get_method(method_id: str) -> dict:
        return await routing.read(lambda tx: customers.get_method(tx, method_id))

    @api.post("/v1/payment_methods/{method_id}/detach")
    async def detach(method_id: str, request: Request) -> Response:
        return await routing.money_moving(
            request, "detach_method", EmptyBody, lambda tx, _: customers.detach(tx, method_id)
        )

    return api
