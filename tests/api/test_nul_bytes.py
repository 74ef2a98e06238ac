"""A NUL byte in anything a client writes is a 422 problem, on PostgreSQL too (whose text
columns cannot hold one: stored, it would be a 500 and a half-done request). Through the real
app on both databases."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy import text
from sqlmodel import Session

from api import api_keys
from tests.support.api_app import app_client
from tests.support.api_app import settings_without_temporal

PLAN = {"name": "Gold", "amount": 1_000, "currency": "USD", "interval": "month"}


@pytest.fixture
async def client(database_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    with Session(database_engine) as session:
        tenant = api_keys.create_tenant(session, "test", "NUL shop", None)
    with Session(database_engine) as session:
        secret = api_keys.create_key(session, "test", tenant.id).secret
    async with app_client(
        settings_without_temporal(database_engine),
        headers={"Authorization": f"Bearer {secret}"},
    ) as client:
        yield client


def plan_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM plans")).scalar_one()


@pytest.mark.parametrize("name", ["\x00", "Gold\x00", "Go\x00ld"])
async def test_a_nul_byte_in_a_name_is_422(client, database_engine, name):
    response = await client.post(
        "/v1/plans", json=PLAN | {"name": name}, headers={"Idempotency-Key": "nul-" + repr(name)}
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert plan_count(database_engine) == 0


async def test_a_name_without_nul_is_stored(client, database_engine):
    response = await client.post("/v1/plans", json=PLAN, headers={"Idempotency-Key": "nul-none"})

    assert response.status_code == 201, response.text
    assert plan_count(database_engine) == 1
