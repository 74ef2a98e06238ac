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
from tests.deploy.compose import PORTS_FILE
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


@pytest.fixture(scope="module")
def with_ports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same with docker-compose.ports.yml added: the operators' ports published."""
    env_text = generated_env_text()
    result = compose_config(env_text, tmp_path_factory.mktemp("compose"), PORTS_FILE)
    assert result.returncode == 0, result.stderr
    return {"config": yaml.safe_load(result.stdout), "env": dotenv_values_from(env_text)}


def dotenv_values_from(text: str) -> dict[str, str | None]:
    return dotenv_values(stream=StringIO(text))


@pytest.mark.parametrize("path", [COMPOSE_FILE, PORTS_FILE], ids=lambda path: path.name)
def test_the_file_follows_the_compose_specification(path: Path) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in jsonschema.Draft201909Validator(schema).iter_errors(
            yaml.safe_load(path.read_text())
        )
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


def test_the_ui_decodes_through_the_api_codec_endpoint(with_ports: dict[str, Any]) -> None:
    services = with_ports["config"]["services"]
    token = with_ports["env"]["PAYSAGA_CODEC_TOKEN"]
    api_port = published_port(services["api"], 8000)
    ui_port = published_port(services["temporal-ui"], 8080)
    ui_env = services["temporal-ui"]["environment"]
    # The browser calls it: the API's published address (or the authenticating proxy in
    # front), never with the token in the URL.
    assert ui_env["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{api_port}/codec"
    assert services["api"]["environment"]["PAYSAGA_CODEC_TOKEN"] == token
    assert json.loads(services["api"]["environment"]["PAYSAGA_CODEC_CORS_ORIGINS"]) == [
        f"http://localhost:{ui_port}"
    ]
    # The proxy's SSO session cookie goes along; no UI login token is ours to check.
    assert ui_env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert ui_env["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "false"


def published_port(service: dict[str, Any], container_port: int) -> int:
    """The host port of ``container_port`` ("127.0.0.1:8000:8000/tcp" in the config)."""
    for port in service.get("ports", []):
        *host, target = str(port).removesuffix("/tcp").split(":")
        if int(target) == container_port:
            return int(host[-1])
    raise AssertionError(f"port {container_port} is not published")


def published(config: dict[str, Any]) -> dict[str, list[str]]:
    """Service → its published ports, as ``docker-compose config`` writes them."""
    return {
        name: [str(port) for port in service["ports"]]
        for name, service in config["services"].items()
        if service.get("ports")
    }


@pytest.mark.parametrize("files", ["resolved", "with_ports"])
def test_published_ports_stay_on_this_machine_by_default(
    files: str, request: pytest.FixtureRequest
) -> None:
    ports = published(request.getfixturevalue(files)["config"])
    exposed = [f"{name}: {port}" for name, bound in ports.items() for port in bound]
    assert ports and all(port.split(": ")[1].startswith("127.0.0.1:") for port in exposed)


def test_only_the_api_is_published_by_default(resolved: dict[str, Any]) -> None:
    # Temporal gRPC has no authentication, its UI no login: they, Jaeger and Prometheus are
    # reached inside the compose network unless the operator adds the ports file.
    assert published(resolved["config"]) == {"api": ["127.0.0.1:8000:8000/tcp"]}


def test_the_ports_file_publishes_the_operators_ports(with_ports: dict[str, Any]) -> None:
    assert published(with_ports["config"]) == {
        "api": ["127.0.0.1:8000:8000/tcp"],
        "temporal": ["127.0.0.1:7233:7233/tcp"],
        "temporal-ui": ["127.0.0.1:8233:8080/tcp"],
        "jaeger": ["127.0.0.1:16686:16686/tcp"],
        "prometheus": ["127.0.0.1:9090:9090/tcp"],
    }


BIND_SETTINGS = {
    "api": "PAYSAGA_API_BIND",
    "temporal": "PAYSAGA_TEMPORAL_BIND",
    "temporal-ui": "PAYSAGA_TEMPORAL_UI_BIND",
    "jaeger": "PAYSAGA_JAEGER_BIND",
    "prometheus": "PAYSAGA_PROMETHEUS_BIND",
}


@pytest.mark.parametrize("service", sorted(BIND_SETTINGS))
def test_each_published_service_has_a_bind_setting_of_its_own(service: str, tmp_path: Path) -> None:
    env_text = generated_env_text() + f"{BIND_SETTINGS[service]}=0.0.0.0\n"
    result = compose_config(env_text, tmp_path, PORTS_FILE)
    assert result.returncode == 0, result.stderr
    exposed = {
        name: ports
        for name, ports in published(yaml.safe_load(result.stdout)).items()
        if not all(port.startswith("127.0.0.1:") for port in ports)
    }
    assert list(exposed) == [service]
    assert all(port.startswith("0.0.0.0:") for port in exposed[service])


def test_the_bind_settings_are_documented_and_one_setting_no_longer_publishes_all() -> None:
    documented = ENV_EXAMPLE.read_text()
    assert all(name in documented for name in BIND_SETTINGS.values())
    assert "docker-compose.ports.yml" in documented
    for text in (documented, COMPOSE_FILE.read_text(), PORTS_FILE.read_text()):
        assert "PAYSAGA_PUBLISH_HOST" not in text


def test_generated_secrets_are_fresh_and_distinct() -> None:
    first, second = (dotenv_values_from(generated_env_text()) for _ in range(2))
    values = [first[name] for name in SECRETS if name != "PAYSAGA_PAYLOAD_KEY_ID"]
    assert len(set(values)) == len(values)
    assert all(first[name] != second[name] for name in SECRETS if name != "PAYSAGA_PAYLOAD_KEY_ID")
    assert not any(is_placeholder(value) for value in values)
