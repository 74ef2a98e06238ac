"""A dependency's outage answers 503 problem+json with a generic detail: the internal
message (SQL, host names, ports) goes to the log only, never to the client."""

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlmodel import Session

from api import api_keys
from tests.support.api_app import app_client
from tests.support.api_app import asgi_client
from tests.support.api_app import running_app
from tests.support.api_app import settings_without_temporal

UNKNOWN_PAYMENT = "/v1/payments/pay_000000000000000000000000"
DEAD_DATABASE = "postgresql+psycopg://paysaga:hunter2@127.0.0.1:9/paysaga_gone"


def new_key(engine: Engine) -> str:
    with Session(engine) as session:
        tenant = api_keys.create_tenant(session, "test", "Outage shop", None)
    with Session(engine) as session:
        return api_keys.create_key(session, "test", tenant.id).secret


def assert_generic_503(response: httpx.Response, code: str, *internal: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    for text in internal:
        assert text not in response.text, (text, response.text)


async def test_temporal_down_is_a_503_without_its_address(engine, caplog):
    settings = settings_without_temporal(engine, temporal_address="127.0.0.1:9")
    key = new_key(engine)
    async with app_client(settings, headers={"Authorization": f"Bearer {key}"}) as client:
        response = await client.get(UNKNOWN_PAYMENT)

    assert_generic_503(response, "temporal_unavailable", "127.0.0.1", ":9", "connect")
    assert "127.0.0.1:9" in caplog.text  # the operator still sees why


@pytest.mark.parametrize("path", ["/v1/payments", "/v1/plans", "/v1/customers"])
async def test_database_down_is_a_503_without_its_sql_or_address(engine, caplog, path):
    key = new_key(engine)
    async with running_app(settings_without_temporal(engine)) as app:
        # The database goes away once the API is up.
        app.state.engine = create_engine(DEAD_DATABASE)
        async with asgi_client(app, headers={"Authorization": f"Bearer {key}"}) as client:
            response = await client.get(path)

    assert_generic_503(
        response,
        "database_unavailable",
        "127.0.0.1",
        "hunter2",
        "paysaga_gone",
        "SELECT",
        "psycopg",
    )
    assert "paysaga_gone" in caplog.text or "127.0.0.1" in caplog.text
