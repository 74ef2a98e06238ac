"""The embedded stack's codec proxy in front of the real API app (in process, real SQLite): the
local Temporal UI decodes through it without holding the codec token, and can do nothing else."""

import httpx
import pytest
from google.protobuf import json_format
from sqlalchemy import Engine
from temporalio.api.common.v1 import Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from schemas.runtime.payload_codec import data_converter
from tests.api.test_codec_endpoint import PAYMENT
from tests.api.test_codec_endpoint import TOKEN
from tests.api.test_codec_endpoint import UI
from tests.api.test_codec_endpoint import codec_settings
from tests.api.test_codec_endpoint import preflight
from tests.support.api_app import asgi_client
from tests.support.api_app import running_app
from workers.stack.codec_proxy import create_proxy
from workers.stack.codec_proxy import main


@pytest.fixture
async def settings(engine: Engine):
    return codec_settings(engine)


@pytest.fixture
async def proxy(settings):
    async with running_app(settings) as api:
        upstream = httpx.ASGITransport(app=api)
        app = create_proxy("http://api/codec", TOKEN, transport=upstream)
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            yield client


async def test_the_ui_decodes_through_the_proxy_without_the_token(proxy, settings):
    stored = await data_converter(settings).encode([PAYMENT])
    body = json_format.MessageToDict(Payloads(payloads=stored))

    allowed = await proxy.options("/codec/decode", headers=preflight(UI))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI

    decoded = await proxy.post("/codec/decode", json=body, headers={"Origin": UI})
    assert decoded.status_code == 200, decoded.text
    assert decoded.headers["access-control-allow-origin"] == UI
    plain = json_format.ParseDict(decoded.json(), Payloads()).payloads
    assert pydantic_data_converter.payload_converter.from_payloads(plain) == [PAYMENT]
    assert TOKEN not in decoded.text and TOKEN not in str(decoded.headers)


async def test_the_proxy_serves_decode_only(proxy):
    for path in ("/codec/encode", f"/codec/{TOKEN}/decode", "/v1/payments", "/metrics"):
        assert (await proxy.post(path, json={"payloads": []})).status_code in (404, 405), path


def test_the_proxy_listens_on_loopback_only(monkeypatch):
    monkeypatch.setenv("PAYSAGA_CODEC_TOKEN", TOKEN)
    assert main(["--host", "0.0.0.0", "--port", "1"]) == 2
    monkeypatch.delenv("PAYSAGA_CODEC_TOKEN")
    assert main(["--host", "127.0.0.1", "--port", "1"]) == 2
