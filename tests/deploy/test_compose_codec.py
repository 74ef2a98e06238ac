"""The Temporal UI of docker-compose.yml decodes payloads through the real API once the
authenticating proxy in front adds the codec token: the endpoint and origin that compose gives
the UI are answered by the app built from the API container's own settings (its database
swapped for a SQLite file; the codec needs no Temporal)."""

import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from google.protobuf import json_format
from sqlalchemy import Engine
from temporalio.api.common.v1 import Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from schemas.runtime.payload_codec import data_converter
from schemas.runtime.settings import Settings
from tests.deploy.compose import compose_config
from tests.deploy.compose import generated_env_text
from tests.support.api_app import app_client

VALUE = {"amount": 1999, "currency": "USD"}


@pytest.fixture(scope="module")
def compose_services(tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = compose_config(generated_env_text(), tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


@pytest.fixture
def api_settings(
    compose_services: dict, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for key in [key for key in os.environ if key.startswith("PAYSAGA_")]:
        monkeypatch.delenv(key)
    for key, value in compose_services["api"]["environment"].items():
        if value is not None and key.startswith("PAYSAGA_"):
            monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("PAYSAGA_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PAYSAGA_TEMPORAL_ADDRESS", "127.0.0.1:1")
    return Settings(_env_file=None)


@pytest.fixture
async def api(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(api_settings, base_url="http://api:8000") as client:
        yield client


async def test_the_ui_endpoint_decodes_what_the_worker_encrypted(
    compose_services: dict, api_settings: Settings, api: httpx.AsyncClient
) -> None:
    ui = compose_services["temporal-ui"]["environment"]
    decode = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"]).path + "/decode"
    origin = ui["TEMPORAL_CORS_ORIGINS"]
    # What the worker stores in Temporal: encrypted with the compose file's key.
    sealed = await data_converter(api_settings).encode([VALUE])
    assert pydantic_data_converter.payload_converter.to_payloads([VALUE])[0].data not in (
        sealed[0].data
    )

    preflight = await api.options(
        decode,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin

    body = json_format.MessageToDict(Payloads(payloads=sealed))
    # The UI alone: no credential of ours, nothing decoded.
    alone = await api.post(decode, json=body, headers={"Origin": origin})
    assert (alone.status_code, alone.json()["code"]) == (401, "codec_unauthorized")
    # Through the proxy, which adds the token after checking the operator's session.
    token = api_settings.codec_token.get_secret_value()
    response = await api.post(
        decode, json=body, headers={"Origin": origin, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    plain = json_format.ParseDict(response.json(), Payloads()).payloads
    assert pydantic_data_converter.payload_converter.from_payloads(list(plain)) == [VALUE]
