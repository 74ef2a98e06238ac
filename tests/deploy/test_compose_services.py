"""The shape of docker-compose.yml: health, restarts, start order, pinned images, one image
for every paysaga process, no literal secret, and deploy/ configs that match the services."""

import re
from typing import Any

import pytest
import yaml

from tests.deploy.compose import DEPLOY
from tests.deploy.compose import REPO
from tests.deploy.compose import SECRETS
from tests.deploy.compose import is_one_shot
from tests.deploy.compose import raw_compose
from tests.deploy.compose import services

# Long-running services allowed no healthcheck, and why.
NO_HEALTHCHECK = {
    # Distroless image: no shell, no HTTP client to probe with. Prometheus watches it
    # (up{job="otel-collector"}) and `restart` brings it back.
    "otel-collector": "distroless image",
}
PAYSAGA_PROCESSES = ("api", "worker", "migrate", "search-attributes")
SECRET_NAME = re.compile(r"(PASSWORD|_PWD|_KEY|_KEYS|_TOKEN|_SECRET|DATABASE_URL)$")


def long_running() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services().items() if not is_one_shot(svc)}


@pytest.mark.parametrize("name", sorted(long_running()))
def test_long_running_services_restart_and_report_health(name: str) -> None:
    service = services()[name]
    assert service.get("restart") == "unless-stopped"
    if name in NO_HEALTHCHECK:
        assert "healthcheck" not in service
        return
    test = service.get("healthcheck", {}).get("test")
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), test


def test_only_the_collector_goes_without_a_healthcheck() -> None:
    unchecked = {n for n, s in long_running().items() if "healthcheck" not in s}
    assert unchecked == set(NO_HEALTHCHECK)


def test_one_shot_jobs_finish_before_the_api_and_the_worker_start() -> None:
    one_shots = {name for name, svc in services().items() if is_one_shot(svc)}
    assert one_shots == {"migrate", "search-attributes"}
    for name in ("api", "worker"):
        depends = services()[name]["depends_on"]
        for job in one_shots:
            assert depends[job] == {"condition": "service_completed_successfully"}
        for dependency in ("paysaga-db", "temporal"):
            assert depends[dependency] == {"condition": "service_healthy"}


def test_every_dependency_waits_for_health_when_there_is_one() -> None:
    for name, service in services().items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            target = services()[dependency]
            if is_one_shot(target):
                expected = "service_completed_successfully"
            elif "healthcheck" in target:
                expected = "service_healthy"
            else:
                expected = "service_started"
            assert rule == {"condition": expected}, f"{name} -> {dependency}"


@pytest.mark.parametrize("name", sorted(services()))
def test_images_are_pinned(name: str) -> None:
    image = services()[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and tag and tag != "latest" and "$" not in image, image


def test_every_paysaga_process_runs_the_one_image_built_from_the_dockerfile() -> None:
    builds = {name: services()[name].get("build") for name in PAYSAGA_PROCESSES}
    images = {services()[name]["image"] for name in PAYSAGA_PROCESSES}
    assert all(build == {"context": ".", "dockerfile": "Dockerfile"} for build in builds.values())
    assert images == {"paysaga:local"}
    others = [n for n, s in services().items() if "build" in s and n not in PAYSAGA_PROCESSES]
    assert others == []


def environment_items():
    for name, service in services().items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        for key, value in environment.items():
            yield name, key, value


def test_no_secret_is_written_in_the_file() -> None:
    # A secret is either required from .env (${NAME:?...}) or an optional pass-through
    # (no value: left out of the container when unset); a flag such as "false" is no secret.
    required = "|".join(SECRETS)
    literal = [
        f"{name}.{key}"
        for name, key, value in environment_items()
        if SECRET_NAME.search(key)
        and value is not None
        and value not in ("true", "false")
        and not re.search(rf"\$\{{({required}):\?", str(value))
    ]
    assert literal == []


def test_the_ui_codec_endpoint_holds_no_credential() -> None:
    ui = services()["temporal-ui"]["environment"]
    # The authenticating proxy in front of the API's /codec, by default the route itself.
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == (
        "${PAYSAGA_PUBLIC_CODEC_URL:-http://localhost:8000/codec}"
    )
    assert not [value for value in ui.values() if "PAYSAGA_CODEC_TOKEN" in str(value)]
    assert services()["api"]["ports"] == ["${PAYSAGA_API_BIND:-127.0.0.1}:8000:8000"]


def test_bind_mounted_files_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source}"


def test_traces_flow_from_the_app_to_the_collector_to_jaeger() -> None:
    collector = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    http_endpoint = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name in ("api", "worker"):
        environment = services()[name]["environment"]
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert http_endpoint.endswith(":4318")
    pipeline = collector["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    (exporter,) = pipeline["exporters"]
    assert collector["exporters"][exporter]["endpoint"] == "jaeger:4317"
    assert services()["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_prometheus_scrapes_what_the_services_serve() -> None:
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in prometheus["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    assert targets["paysaga-api"] == "api:8000"
    worker_port = services()["worker"]["environment"]["PAYSAGA_WORKER_METRICS_ADDRESS"]
    assert worker_port == "0.0.0.0:9464" and targets["paysaga-worker"] == "worker:9464"
    temporal_port = services()["temporal"]["environment"]["PROMETHEUS_ENDPOINT"].split(":")[1]
    assert targets["temporal"] == f"temporal:{temporal_port}"
    # The API's /metrics wants the token the scrape sends: the file Prometheus' entrypoint
    # writes from the same variable the API reads.
    (api_job,) = [job for job in prometheus["scrape_configs"] if job["job_name"] == "paysaga-api"]
    token_file = api_job["authorization"]["credentials_file"]
    entrypoint = " ".join(services()["prometheus"]["entrypoint"])
    assert f'"$$PAYSAGA_METRICS_TOKEN" > {token_file}' in entrypoint
    token = "${PAYSAGA_METRICS_TOKEN:?"
    assert services()["api"]["environment"]["PAYSAGA_METRICS_TOKEN"].startswith(token)
    assert services()["prometheus"]["environment"]["PAYSAGA_METRICS_TOKEN"].startswith(token)
    # The worker's healthcheck probes the same port Prometheus scrapes.
    assert services()["worker"]["healthcheck"]["test"][-1] == "http://127.0.0.1:9464/metrics"


def test_temporal_runs_on_postgresql_with_updates_enabled() -> None:
    environment = services()["temporal"]["environment"]
    assert environment["DB"] == "postgres12"
    assert environment["POSTGRES_SEEDS"] == "postgresql"
    path = environment["DYNAMIC_CONFIG_FILE_PATH"].removeprefix("config/dynamicconfig/")
    dynamic = yaml.safe_load((DEPLOY / "temporal" / "dynamicconfig" / path).read_text())
    assert dynamic["frontend.enableUpdateWorkflowExecution"] == [{"value": True}]


def test_no_top_level_key_that_docker_compose_1_29_rejects() -> None:
    # `name:` is Compose v2 only; COMPOSE_PROJECT_NAME in .env names the project instead.
    keys = {key for key in raw_compose() if not key.startswith("x-")}
    assert keys == {"services", "volumes"}


def test_production_runs_no_sandbox() -> None:
    """Test money never shares a deployment with real money: no gateway service, and the API
    and the worker have the sandbox switched off."""
    assert not any("gateway" in name for name in services())
    for name in ("api", "worker"):
        environment = services()[name]["environment"]
        assert environment["PAYSAGA_SANDBOX_ENABLED"] == "false"
        assert "PAYSAGA_SANDBOX_GATEWAY_URL" not in environment
