"""docker-compose.yml as `docker compose config` / `up` reads it: complete secrets are
accepted, each missing one is refused by name, and what the containers receive is what the
app accepts.

compose_spec.json is the Compose Specification's JSON schema as shipped in the PyPI wheel of
docker-compose 1.29.2 (compose/config/compose_spec.json), Copyright 2014 Docker, Inc.,
Apache License 2.0 (compose_spec.LICENSE beside it). It checks the file even where the
docker-compose binary is missing.
"""

import json
import os
import re
from io import StringIO
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dotenv import dotenv_values
from pydantic import ValidationError

from schemas.runtime.settings import Settings
from schemas.runtime.settings import is_placeholder
from tests.deploy.compose import COMPOSE_FILE
from tests.deploy.compose import ENV_EXAMPLE
from tests.deploy.compose import SECRETS
from tests.deploy.compose import compose_config
from tests.deploy.compose import generated_env_text
from tests.deploy.compose import raw_compose
from tests.deploy.compose import with_value

SCHEMA = Path(__file__).with_name("compose_spec.json")
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]*\}")


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`docker-compose config` of a complete, freshly generated .env."""
    env_text = generated_env_text()
    result = compose_config(env_text, tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    return {"config": yaml.safe_load(result.stdout), "env": dotenv_values_from(env_text)}


def dotenv_values_from(text: str) -> dict[str, str | None]:
    return dotenv_values(stream=StringIO(text))


def test_the_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in jsonschema.Draft201909Validator(schema).iter_errors(raw_compose())
    ]
    assert errors == []
    # The Compose Specification: no `version:` key (Compose v2 warns it is obsolete).
    assert "version" not in raw_compose()


def test_every_required_variable_is_a_documented_secret() -> None:
    required = set(REQUIRED_VARIABLE.findall(COMPOSE_FILE.read_text()))
    assert required == set(SECRETS)
    documented = dotenv_values(ENV_EXAMPLE)
    assert set(SECRETS) <= set(documented)


def test_the_example_env_file_as_copied_is_refused(tmp_path: Path) -> None:
    # `cp .env.example .env && docker compose up` must not start with any default secret.
    result = compose_config(ENV_EXAMPLE.read_text(), tmp_path)
    assert result.returncode != 0
    assert any(f"set {name} in .env" in result.stderr for name in SECRETS), result.stderr


def test_a_complete_env_file_is_accepted(resolved: dict[str, Any]) -> None:
    config = resolved["config"]
    assert {"api", "worker", "temporal", "temporal-ui", "migrate"} <= set(config["services"])
    api_env = config["services"]["api"]["environment"]
    assert api_env["PAYSAGA_ADMIN_KEY"] == resolved["env"]["PAYSAGA_ADMIN_KEY"]


@pytest.mark.parametrize("name", SECRETS)
def test_each_missing_secret_is_refused_by_name(name: str, tmp_path: Path) -> None:
    result = compose_config(with_value(generated_env_text(), name, ""), tmp_path)
    assert result.returncode != 0
    assert f"set {name} in .env" in result.stderr, result.stderr


def test_no_environment_value_is_a_placeholder(resolved: dict[str, Any]) -> None:
    placeholders = [
        f"{service}.{key}={value!r}"
        for service, definition in resolved["config"]["services"].items()
        for key, value in (definition.get("environment") or {}).items()
        # None: an optional variable passed through only when set.
        if value is not None and is_placeholder(str(value))
    ]
    assert placeholders == []


@pytest.mark.parametrize("service", ["api", "worker", "migrate"])
def test_the_app_accepts_what_its_container_receives(
    service: str, resolved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = resolved["config"]["services"][service]["environment"]
    settings = settings_from(environment, monkeypatch)
    assert settings.database_url.startswith("postgresql+psycopg://paysaga:")
    assert settings.database_url.endswith("@paysaga-db:5432/paysaga")
    if service != "migrate":
        assert settings.payload_key_id in settings.payload_keys
    if service == "api":
        assert settings.admin_key is not None and settings.codec_token is not None
        assert settings.codec_cors_origins == ["http://localhost:8233"]


def test_the_app_refuses_a_placeholder_that_passes_compose(
    resolved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Compose only knows "set or not": "change-me" is set. The app is the second line.
    environment = dict(resolved["config"]["services"]["api"]["environment"])
    environment["PAYSAGA_ADMIN_KEY"] = "change-me"
    with pytest.raises(ValidationError, match="admin_key is a placeholder"):
        settings_from(environment, monkeypatch)


def settings_from(environment: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the container builds them: from its environment only (no .env file)."""
    for key in list(os.environ):
        if key.startswith("PAYSAGA_"):
            monkeypatch.delenv(key)
    for key, value in environment.items():
        if value is not None:
            monkeypatch.setenv(key, str(value))
    return Settings(_env_file=None)


def test_the_ui_decodes_through_the_api_codec_endpoint(resolved: dict[str, Any]) -> None:
    services = resolved["config"]["services"]
    token = resolved["env"]["PAYSAGA_CODEC_TOKEN"]
    api_port = published_port(services["api"], 8000)
    ui_port = published_port(services["temporal-ui"], 8080)
    ui_env = services["temporal-ui"]["environment"]
    # The browser calls it: the API's published address, the token in the path.
    assert ui_env["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{api_port}/codec/{token}"
    assert services["api"]["environment"]["PAYSAGA_CODEC_TOKEN"] == token
    assert json.loads(services["api"]["environment"]["PAYSAGA_CODEC_CORS_ORIGINS"]) == [
        f"http://localhost:{ui_port}"
    ]
    assert ui_env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "false"
    assert ui_env["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "false"


def published_port(service: dict[str, Any], container_port: int) -> int:
    """The host port of ``container_port`` ("127.0.0.1:8000:8000/tcp" in the config)."""
    for port in service.get("ports", []):
        *host, target = str(port).removesuffix("/tcp").split(":")
        if int(target) == container_port:
            return int(host[-1])
    raise AssertionError(f"port {container_port} is not published")


def test_published_ports_stay_on_this_machine_by_default(resolved: dict[str, Any]) -> None:
    exposed = [
        f"{name}: {port}"
        for name, service in resolved["config"]["services"].items()
        for port in service.get("ports", [])
        if not str(port).startswith("127.0.0.1:")
    ]
    assert exposed == []


def test_generated_secrets_are_fresh_and_distinct() -> None:
    first, second = (dotenv_values_from(generated_env_text()) for _ in range(2))
    values = [first[name] for name in SECRETS if name != "PAYSAGA_PAYLOAD_KEY_ID"]
    assert len(set(values)) == len(values)
    assert all(first[name] != second[name] for name in SECRETS if name != "PAYSAGA_PAYLOAD_KEY_ID")
    assert not any(is_placeholder(value) for value in values)
