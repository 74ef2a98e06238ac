"""The codec endpoint through the real app on a real SQLite database (no Temporal: the codec
needs none), as the Temporal CLI and the Temporal UI (through its authenticating proxy, CORS)
call it: decode only, the token in the Authorization header only."""

import base64
import os
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from sqlalchemy import Engine
from temporalio.api.common.v1 import Payload
from temporalio.api.common.v1 import Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from schemas.runtime.payload_codec import EncryptionCodec
from schemas.runtime.payload_codec import data_converter
from schemas.runtime.settings import Settings
from tests.support.api_app import app_client
from tests.support.api_app import settings_without_temporal

TOKEN = secrets.token_urlsafe(32)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UI = "http://127.0.0.1:8233"
KEY = base64.b64encode(os.urandom(32)).decode()
PAYMENT = {"payment_id": "pay_codec_endpoint", "amount": 1999, "description": "Ada's order"}


def codec_settings(engine: Engine, **overrides) -> Settings:
    values = {
        "payload_keys": {"k1": SecretStr(KEY)},
        "payload_key_id": "k1",
        "codec_token": SecretStr(TOKEN),
        "codec_cors_origins": [UI],
        "max_body_bytes": 64 * 1024,
    }
    return settings_without_temporal(engine, **(values | overrides))


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return codec_settings(engine)


@pytest.fixture
async def client(settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings) as client:
        yield client


def as_json(payloads: list[Payload]) -> dict:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def from_json(body: dict) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


async def stored_by_the_worker(settings: Settings) -> list[Payload]:
    """What a worker's client writes to history: the converter of
    schemas.runtime.temporal_client."""
    return await data_converter(settings).encode([PAYMENT])


async def test_decode_needs_the_bearer_token(client, settings):
    body = as_json(await stored_by_the_worker(settings))
    missing = await client.post("/codec/decode", json=body)
    wrong = await client.post(
        "/codec/decode", json=body, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"}
    )
    other_scheme = await client.post(
        "/codec/decode", json=body, headers={"Authorization": f"Basic {TOKEN}"}
    )
    for refused in (missing, wrong, other_scheme):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "codec_unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in refused.text and "Ada" not in refused.text
    allowed = await client.post(
        "/codec/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert allowed.status_code == 200, allowed.text


async def test_a_token_in_the_path_is_not_a_credential(client, settings):
    body = as_json(await stored_by_the_worker(settings))
    for headers in ({}, AUTH):
        response = await client.post(f"/codec/{TOKEN}/decode", json=body, headers=headers)
        assert response.status_code == 404
        assert "Ada" not in response.text


async def test_decode_gives_back_what_the_worker_encoded(client, settings):
    stored = await stored_by_the_worker(settings)
    assert stored[0].metadata["encoding"] == b"binary/encrypted"
    response = await client.post("/codec/decode", json=as_json(stored), headers=AUTH)
    assert response.headers["content-type"] == "application/json"
    [plain] = from_json(response.json())
    assert plain.metadata["encoding"] == b"json/plain"
    assert pydantic_data_converter.payload_converter.from_payloads([plain]) == [PAYMENT]


async def test_there_is_no_encode(client):
    # Sealing is the workers' and the API's alone: a sealed payload is trusted as ours.
    plain = pydantic_data_converter.payload_converter.to_payloads([PAYMENT])
    for path in ("/codec/encode", f"/codec/{TOKEN}/encode"):
        response = await client.post(path, json=as_json(plain), headers=AUTH)
        assert response.status_code == 404, path


async def test_an_empty_batch_answers_an_empty_list(client):
    response = await client.post("/codec/decode", json={"payloads": []}, headers=AUTH)
    assert response.json() == {"payloads": []}


async def test_a_payload_under_an_unknown_key_is_a_problem_without_its_bytes(client):
    foreign = EncryptionCodec({"elsewhere": os.urandom(32)}, encrypt_with="elsewhere")
    [sealed] = await foreign.encode(
        pydantic_data_converter.payload_converter.to_payloads([PAYMENT])
    )
    response = await client.post("/codec/decode", json=as_json([sealed]), headers=AUTH)
    assert response.status_code == 422
    assert response.json()["code"] == "payload_undecodable"
    assert "elsewhere" in response.json()["detail"]
    assert base64.b64encode(sealed.data).decode() not in response.text


async def test_a_body_that_is_not_payloads_is_malformed(client):
    for body in (b"not json", b'{"payloads": [{"data": "not base64!"}]}', b"\xff\xfe"):
        response = await client.post("/codec/decode", content=body, headers=AUTH)
        assert (response.status_code, response.json()["code"]) == (400, "malformed_json")


async def test_only_post_is_served(client):
    response = await client.get("/codec/decode", headers=AUTH)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


async def test_the_apps_body_limit_still_applies(engine, settings):
    async with app_client(codec_settings(engine, max_body_bytes=1024)) as client:
        big = pydantic_data_converter.payload_converter.to_payloads(["x" * 4096])
        response = await client.post("/codec/decode", json=as_json(big), headers=AUTH)
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }


async def test_cors_preflight_answers_the_ui_origin_only(client):
    for path in ("/codec/decode",):
        allowed = await client.options(path, headers=preflight(UI))
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == UI
        assert "POST" in allowed.headers["access-control-allow-methods"]
        allowed_headers = allowed.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "content-type", "x-namespace"):
            assert header in allowed_headers

        elsewhere = await client.options(path, headers=preflight("https://evil.example"))
        assert "access-control-allow-origin" not in elsewhere.headers
        assert elsewhere.status_code != 200


async def test_the_ui_reads_the_answer_from_its_origin_only(client, settings):
    body = as_json(await stored_by_the_worker(settings))
    from_ui = await client.post("/codec/decode", json=body, headers={"Origin": UI, **AUTH})
    assert from_ui.headers["access-control-allow-origin"] == UI
    # With the proxy's session cookie (the UI's "include credentials"), for the UI only.
    assert from_ui.headers["access-control-allow-credentials"] == "true"
    from_elsewhere = await client.post(
        "/codec/decode", json=body, headers={"Origin": "https://evil.example", **AUTH}
    )
    assert "access-control-allow-origin" not in from_elsewhere.headers


async def test_cors_is_only_on_the_codec_routes(client):
    response = await client.options("/v1/payments", headers=preflight(UI))
    assert "access-control-allow-origin" not in response.headers


async def test_the_codec_is_not_in_the_openapi_document(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/codec")]


@pytest.mark.parametrize(
    "overrides",
    [{"codec_token": None}, {"payload_keys": {}, "payload_key_id": None}],
    ids=["no token", "no payload keys"],
)
async def test_the_codec_is_off_without_a_token_or_keys(engine, overrides):
    async with app_client(codec_settings(engine, **overrides)) as client:
        response = await client.post("/codec/decode", json={"payloads": []}, headers=AUTH)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "codec_disabled"


async def test_a_plaintext_payload_is_shown_as_it_is(client):
    # The SDK core's local-activity markers, or a forged input the worker refused: the UI
    # shows them, it does not act on them.
    plain = pydantic_data_converter.payload_converter.to_payloads([PAYMENT])
    response = await client.post("/codec/decode", json=as_json(plain), headers=AUTH)
    assert response.status_code == 200, response.text
    assert from_json(response.json()) == plain
