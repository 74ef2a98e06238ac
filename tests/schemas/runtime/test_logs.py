"""Log lines: JSON with the ids an operator searches by, and never card data or secrets,
whichever logger wrote them. Lines are read from stderr, where the real handler writes."""

import dataclasses
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from schemas.runtime.log_context import log_context
from schemas.runtime.logs import UVICORN_LOGGERS
from schemas.runtime.logs import configure_logging
from schemas.runtime.settings import Settings

PAN = "4111 1111 1111 1111"
ADMIN_KEY = "adm_Q2lz9d8F7s6k5j4h"
CODEC_TOKEN = "codec-6Gq1mZ8rT0vX3yB5"
BEARER = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"
STRIPE_KEY = "sk_live_51HqL8kJxYzAbCdEf"
PAYMENT_ID = "pay_0123456789abcdef01234567"
WRITTEN_LOGGERS = (
    "stripe",
    "httpx",
    "paysaga.api",
    "temporalio.activity",
    "temporalio.workflow",
    "activities.providers.sandbox.adapter",
)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes the root logger of the whole process: put it back."""
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    uvicorn = {name: logging.getLogger(name) for name in UVICORN_LOGGERS}
    saved_uvicorn = {name: (list(lg.handlers), lg.propagate) for name, lg in uvicorn.items()}
    # Servers started earlier in the session (uvicorn.Config(log_level=...)) leave levels on
    # the loggers these tests write to: start from none, as a fresh process does.
    written = {name: logging.getLogger(name) for name in {*UVICORN_LOGGERS, *WRITTEN_LOGGERS}}
    saved_levels = {name: (lg.level, lg.disabled) for name, lg in written.items()}
    for logger in written.values():
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, propagate) in saved_uvicorn.items():
        uvicorn[name].handlers[:] = handlers
        uvicorn[name].propagate = propagate
    for name, (level, disabled) in saved_levels.items():
        written[name].setLevel(level)
        written[name].disabled = disabled


def settings(**overrides) -> Settings:
    return Settings(admin_key=ADMIN_KEY, codec_token=CODEC_TOKEN, **overrides)


def json_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]


def test_card_data_and_secrets_are_masked_whoever_logs_them(capsys):
    configure_logging(settings(), "api")

    # A library's debug dump: the secrets arrive as arguments, not in our format string.
    logging.getLogger("stripe").warning(
        'charging %s {"cvc": "737"} cvv=123 security_code=4567 with Authorization: Bearer %s',
        PAN,
        BEARER,
    )
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:50000",
        "GET",
        f"/v1/payments?key={STRIPE_KEY}&admin={ADMIN_KEY}",
        "1.1",
        200,
    )
    logging.getLogger("httpx").info(
        'HTTP Request: POST http://127.0.0.1:8000/codec/%s/decode "HTTP/1.1 200 OK"', CODEC_TOKEN
    )
    logging.getLogger("paysaga.api").info(
        "extras", extra={"request": {"headers": {"Authorization": f"Bearer {BEARER}"}, "cvc": 737}}
    )
    try:
        raise RuntimeError(f"provider said no to {PAN} with password=hunter2")
    except RuntimeError:
        logging.getLogger("temporalio.activity").exception("activity failed")

    output = capsys.readouterr().err
    for secret in (PAN, "4111111111111111", "737", "cvv=123", "4567", BEARER, STRIPE_KEY):
        assert secret not in output
    for secret in (ADMIN_KEY, CODEC_TOKEN, "hunter2"):
        assert secret not in output
    lines = [json.loads(line) for line in output.splitlines()]
    charging, access, codec_call, extras, failed = lines
    assert charging["message"] == (
        'charging [PAN ****1111] {"cvc": "[REDACTED]"} cvv=[REDACTED] '
        "security_code=[REDACTED] with Authorization: [REDACTED]"
    )
    assert charging["logger"] == "stripe"
    assert access["message"] == (
        '127.0.0.1:50000 - "GET /v1/payments?key=sk_live_[REDACTED]&admin=[REDACTED] HTTP/1.1" 200'
    )
    assert "/codec/[REDACTED]/decode" in codec_call["message"]
    assert extras["request"] == {"headers": {"Authorization": "[REDACTED]"}, "cvc": "[REDACTED]"}
    assert "[PAN ****1111]" in failed["exc_info"]
    assert "password=[REDACTED]" in failed["exc_info"]


@pytest.mark.parametrize("pan", ["4111.1111.1111.1111", "4111_1111_1111_1111"])
def test_card_numbers_grouped_by_dots_or_underscores_are_masked(capsys, pan):
    configure_logging(settings(), "api")

    logging.getLogger("stripe").warning("charging %s", pan)

    [line] = json_lines(capsys)
    assert line["message"] == "charging [PAN ****1111]"


def test_a_line_names_its_trace_tenant_and_payment(capsys):
    configure_logging(settings(), "api")
    tracer = TracerProvider().get_tracer("test")
    log = logging.getLogger("paysaga.api")

    log.info("before")
    with tracer.start_as_current_span("POST /v1/payments") as span:
        with log_context(tenant_id="ten_shop", payment_id=PAYMENT_ID):
            log.info("inside")

    before, inside = json_lines(capsys)
    context = span.get_span_context()
    assert inside["trace_id"] == trace.format_trace_id(context.trace_id)
    assert inside["span_id"] == trace.format_span_id(context.span_id)
    assert (inside["tenant_id"], inside["payment_id"]) == ("ten_shop", PAYMENT_ID)
    assert inside["service"] == "api"
    assert (inside["level"], inside["logger"], inside["message"]) == (
        "INFO",
        "paysaga.api",
        "inside",
    )
    assert inside["timestamp"].endswith("Z")
    # Every field is on every line, null when unknown.
    for field in ("trace_id", "span_id", "tenant_id", "payment_id"):
        assert field in before and before[field] is None


def test_worker_lines_take_tenant_and_payment_from_the_workflow_id(capsys):
    configure_logging(settings(), "worker")
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info,
        workflow_id=f"ten_shop:payment:{PAYMENT_ID}",
        activity_type="authorize_payment",
    )

    def authorize() -> None:
        activity.logger.info("authorizing")  # carries the temporal_activity extra
        logging.getLogger("activities.providers.sandbox.adapter").info("calling the gateway")

    environment.run(authorize)
    logging.getLogger("temporalio.workflow").info(
        "refund started",
        extra={"temporal_workflow": {"workflow_id": "ten_other:refund:re_1", "attempt": 1}},
    )
    logging.getLogger("temporalio.workflow").info(
        "reconciling", extra={"temporal_workflow": {"workflow_id": "paysaga:reconciliation"}}
    )

    by_activity_logger, by_plain_logger, refund, reconciliation = json_lines(capsys)
    for line in (by_activity_logger, by_plain_logger):
        assert (line["tenant_id"], line["payment_id"]) == ("ten_shop", PAYMENT_ID)
        assert line["service"] == "worker"
    assert by_activity_logger["temporal_activity"]["activity_type"] == "authorize_payment"
    assert (refund["tenant_id"], refund["payment_id"]) == ("ten_other", None)
    assert (reconciliation["tenant_id"], reconciliation["payment_id"]) == (None, None)


def test_text_lines_are_readable_and_masked(capsys):
    configure_logging(settings(log_format="text"), "api")

    with log_context(tenant_id="ten_shop", payment_id=PAYMENT_ID):
        logging.getLogger("httpx").info("sent %s with client_secret=%s", PAN, "abc123xyz")

    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith(
        f"INFO httpx tenant=ten_shop payment={PAYMENT_ID}: "
        "sent [PAN ****1111] with client_secret=[REDACTED]"
    )


def test_configuring_again_replaces_only_our_handler(capsys):
    root = logging.getLogger()
    theirs = logging.NullHandler()
    root.addHandler(theirs)
    uvicorn_handler = logging.StreamHandler()
    logging.getLogger("uvicorn.access").addHandler(uvicorn_handler)
    logging.getLogger("uvicorn.access").propagate = False

    configure_logging(settings(), "api")
    configure_logging(settings(log_level="WARNING"), "api")
    logging.getLogger("uvicorn.access").warning("once")

    assert theirs in root.handlers
    ours = [h for h in root.handlers if getattr(h, "_paysaga", False)]
    assert len(ours) == 1
    assert root.level == logging.WARNING
    access = logging.getLogger("uvicorn.access")
    assert access.handlers == [] and access.propagate
    [line] = json_lines(capsys)
    assert (line["logger"], line["message"]) == ("uvicorn.access", "once")
