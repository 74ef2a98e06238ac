"""The webhook sender against a real receiver process (``tests.support.webhook_receiver``):
what an answer gives, what a slow or hostile receiver cannot do, and where nothing is sent."""

import base64
import ipaddress
import json
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver
from aiohttp.abc import ResolveResult
from standardwebhooks.webhooks import Webhook

from activities.webhooks.sender import USER_AGENT
from activities.webhooks.sender import AddressRefused
from activities.webhooks.sender import PublicOnlyResolver
from activities.webhooks.sender import WebhookSender
from schemas.webhook_endpoints import RESPONSE_EXCERPT_BYTES
from tests.support.webhook_receiver import WebhookReceiver
from tests.support.webhook_receiver import webhook_receiver

# Short enough for the tests, long enough for a loaded machine to connect and answer.
SHORT_TIMEOUT = timedelta(seconds=1)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookReceiver]:
    with webhook_receiver(tmp_path_factory.mktemp("webhook-receiver")) as started:
        yield started


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    sending = WebhookSender()
    yield sending
    await sending.aclose()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_name() -> str:
    return f"endpoint-{uuid.uuid4().hex[:8]}"


def signed(body: bytes, *signing_secrets: str) -> dict[str, str]:
    """Standard Webhooks headers of ``body``, one signature per secret."""
    message_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signatures = [Webhook(secret).sign(message_id, now, body) for secret in signing_secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def event_body() -> bytes:
    return json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "payment.succeeded"}).encode()


def configured(receiver: WebhookReceiver, **config: object) -> tuple[str, str]:
    """A fresh endpoint name at the receiver, configured; and its secret."""
    name, secret = new_name(), new_secret()
    receiver.configure(name, secrets=[secret], **config)
    return name, secret


def https_url(receiver: WebhookReceiver, host: str, name: str) -> str:
    """The receiver's URL under another host and as https, the only scheme allowed without
    private URLs (nothing may get as far as a handshake)."""
    port = receiver.base_url.rsplit(":", 1)[1]
    return f"https://{host}:{port}/hooks/{name}"


async def test_a_2xx_is_delivered_verified_and_its_answer_kept(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    name, secret = configured(receiver)
    body = event_body()
    headers = signed(body, secret)

    result = await sender.send(receiver.url(name), body, headers, allow_private=True)

    assert (result.status_code, result.error) == (200, None)
    assert result.delivered
    assert json.loads(result.excerpt or "") == {"mode": "ok"}
    [delivery] = receiver.deliveries(name)
    assert delivery["body"] == json.loads(body)
    assert delivery["secret"] == secret
    assert delivery["webhook_id"] == headers["webhook-id"]
    assert delivery["timestamp"] == headers["webhook-timestamp"]
    assert delivery["headers"]["user-agent"] == USER_AGENT
    assert delivery["headers"]["content-type"] == "application/json"
    assert receiver.rejected(name) == []


async def test_no_proxy_from_the_environment_and_no_cookie_from_an_earlier_answer(
    receiver: WebhookReceiver, sender: WebhookSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, secret = configured(receiver)

    for _ in range(2):
        body = event_body()
        with monkeypatch.context() as environment:
            # A proxy that is not there: a sender using it would not reach the receiver (nor
            # would the control calls, made outside).
            for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"):
                environment.setenv(variable, "http://127.0.0.1:9")
            result = await sender.send(receiver.url(name), body, signed(body, secret), True)
        assert result.delivered

    assert [delivery["headers"].get("cookie") for delivery in receiver.deliveries(name)] == [
        None,
        None,
    ]


async def test_a_500_is_an_answer_not_a_delivery(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    name, secret = configured(receiver, mode="fail", status=500)
    body = event_body()

    result = await sender.send(receiver.url(name), body, signed(body, secret), allow_private=True)

    assert (result.status_code, result.error) == (500, None)
    assert not result.delivered
    assert json.loads(result.excerpt or "") == {"mode": "fail"}
    assert len(receiver.deliveries(name)) == 1


async def test_a_redirect_is_answered_with_its_status_and_never_followed(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    name, secret = configured(receiver, mode="redirect")
    body = event_body()

    result = await sender.send(receiver.url(name), body, signed(body, secret), allow_private=True)

    assert (result.status_code, result.error) == (302, None)
    assert not result.delivered
    assert len(receiver.deliveries(name)) == 1
    assert receiver.redirected(name) == []


async def test_a_receiver_that_never_answers_times_out(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    name, secret = configured(receiver, mode="timeout")
    body = event_body()

    result = await sender.send(
        receiver.url(name), body, signed(body, secret), allow_private=True, time_limit=SHORT_TIMEOUT
    )

    assert result.status_code is None
    assert result.excerpt is None
    assert result.error == "timed out after 1 s"
    assert not result.delivered


async def test_a_body_dribbled_byte_by_byte_cannot_hold_the_call(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    name, secret = configured(receiver, mode="dribble")
    body = event_body()

    result = await sender.send(
        receiver.url(name), body, signed(body, secret), allow_private=True, time_limit=SHORT_TIMEOUT
    )

    assert result.status_code == 200
    assert result.error == "timed out after 1 s"
    assert not result.delivered
    assert len(result.excerpt or "") < RESPONSE_EXCERPT_BYTES


async def test_only_the_excerpt_of_a_body_is_read(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    large, large_secret = configured(receiver, body_size=5 * RESPONSE_EXCERPT_BYTES)
    body = event_body()
    result = await sender.send(
        receiver.url(large), body, signed(body, large_secret), allow_private=True
    )
    assert (result.status_code, result.error) == (200, None)
    assert result.excerpt == "b" * RESPONSE_EXCERPT_BYTES

    # A body with no end: read to its end, the call would time out instead of answering.
    endless, endless_secret = configured(receiver, mode="flood")
    result = await sender.send(
        receiver.url(endless), body, signed(body, endless_secret), allow_private=True
    )
    assert (result.status_code, result.error) == (200, None)
    assert result.excerpt == "f" * RESPONSE_EXCERPT_BYTES


@pytest.mark.parametrize(
    ("host", "refusal"),
    [
        ("127.0.0.1", "refused: the URL's host resolves to a non-public address (127.0.0.1)"),
        (
            "169.254.169.254",
            "refused: the URL's host resolves to a non-public address (169.254.169.254)",
        ),
        ("[::ffff:127.0.0.1]", "refused: the URL's host resolves to a non-public address"),
        ("127.1", "refused: the URL's host is not a canonical IP address"),
        ("2130706433", "refused: the URL's host is not a canonical IP address"),
        ("localhost", "refused: the URL's host is local"),
    ],
)
async def test_a_literal_non_public_address_is_refused_before_any_connection(
    receiver: WebhookReceiver, sender: WebhookSender, host: str, refusal: str
) -> None:
    name, secret = configured(receiver)
    body = event_body()
    url = https_url(receiver, host, name)

    result = await sender.send(url, body, signed(body, secret), allow_private=False)

    assert result.error is not None and result.error.startswith(refusal)
    assert (result.status_code, result.excerpt, result.latency_ms) == (None, None, 0)
    assert receiver.deliveries(name) == receiver.rejected(name) == []


async def test_plain_http_is_refused_without_private_urls(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    name, secret = configured(receiver)
    body = event_body()

    result = await sender.send(receiver.url(name), body, signed(body, secret), allow_private=False)

    assert result.error == "refused: the URL must be https"
    assert receiver.deliveries(name) == []


def _machine_name_resolving_privately() -> str:
    """This machine's name, which resolves (/etc/hosts) to its own, non-public addresses."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 443)}
    except socket.gaierror:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    if any(ipaddress.ip_address(address).is_global for address in addresses):
        pytest.skip(f"this machine's name {name!r} resolves to a public address")
    return name


@pytest.mark.parametrize("host", ["machine name", "0x7f000001"])
async def test_a_name_resolving_to_a_non_public_address_is_refused_when_resolved(
    receiver: WebhookReceiver, sender: WebhookSender, host: str
) -> None:
    """Names the URL check lets through (only their addresses can tell): the hexadecimal
    form resolves to 127.0.0.1 like any name, through the sender's resolver."""
    host = _machine_name_resolving_privately() if host == "machine name" else host
    name, secret = configured(receiver)
    body = event_body()

    result = await sender.send(
        https_url(receiver, host, name), body, signed(body, secret), allow_private=False
    )

    assert result.error is not None
    assert result.error.startswith("refused: the URL's host resolves to a non-public address")
    assert result.status_code is None
    assert receiver.deliveries(name) == receiver.rejected(name) == []


async def test_a_name_resolving_to_a_private_address_is_reached_when_private_urls_are_allowed(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    host = _machine_name_resolving_privately()
    name, secret = configured(receiver)
    body = event_body()
    url = receiver.url(name).replace("127.0.0.1", host)

    result = await sender.send(url, body, signed(body, secret), allow_private=True)

    assert (result.status_code, result.error) == (200, None)
    assert len(receiver.deliveries(name)) == 1


class _Answers(AbstractResolver):
    """A DNS that answers ``addresses`` for any name."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.addresses
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "addresses",
    [("127.0.0.1",), ("93.184.215.14", "10.0.0.7"), ("fe80::1",), ("::ffff:169.254.169.254",)],
)
async def test_the_resolver_refuses_a_name_when_any_address_is_not_public(
    addresses: tuple[str, ...],
) -> None:
    resolver = PublicOnlyResolver(allow_private=False, resolver=_Answers(*addresses))
    with pytest.raises(AddressRefused, match="non-public address"):
        await resolver.resolve("hooks.example.com", 443)


async def test_the_resolver_hands_on_public_addresses_and_private_ones_when_allowed() -> None:
    public = PublicOnlyResolver(allow_private=False, resolver=_Answers("93.184.215.14"))
    assert [a["host"] for a in await public.resolve("hooks.example.com", 443)] == ["93.184.215.14"]
    private = PublicOnlyResolver(allow_private=True, resolver=_Answers("10.0.0.7"))
    assert [a["host"] for a in await private.resolve("hooks.internal.test", 443)] == ["10.0.0.7"]


async def test_only_a_signature_of_a_configured_secret_is_accepted(
    receiver: WebhookReceiver, sender: WebhookSender
) -> None:
    name, secret = configured(receiver)
    body = event_body()

    forged = await sender.send(
        receiver.url(name), body, signed(body, new_secret()), allow_private=True
    )
    assert (forged.status_code, forged.error) == (400, None)
    [rejected] = receiver.rejected(name)
    assert rejected["reason"] == "No matching signature found"
    assert receiver.deliveries(name) == []

    # During a rotation the receiver may still know only the replaced secret: the delivery
    # signed with both verifies with it.
    newer = new_secret()
    both = await sender.send(
        receiver.url(name), body, signed(body, newer, secret), allow_private=True
    )
    assert both.delivered
    assert [delivery["secret"] for delivery in receiver.deliveries(name)] == [secret]


async def test_a_stopped_receiver_refuses_and_is_reached_again_on_its_url(
    tmp_path: Path, sender: WebhookSender
) -> None:
    with webhook_receiver(tmp_path) as receiver:
        name, secret = configured(receiver)
        body = event_body()
        receiver.stop()

        down = await sender.send(receiver.url(name), body, signed(body, secret), allow_private=True)
        assert (down.status_code, down.error) == (None, "connection refused")

        receiver.start()
        up = await sender.send(receiver.url(name), body, signed(body, secret), allow_private=True)
        assert up.delivered
        assert len(receiver.deliveries(name)) == 1
