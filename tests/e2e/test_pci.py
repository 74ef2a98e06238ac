"""No card data and no secret where an operator, the Temporal server or a log file keeps it.

The main payment scenarios run on the embedded stack (payload encryption on, as in
production), plus requests carrying a card number in free text. Then what the stack keeps
is read the way an attacker with server access would: the raw histories through a client
WITHOUT the payload keys, the search attributes, every log line. The codec endpoint is the
only way back to the plaintext, and only with the operators' token.
"""

import asyncio
import base64
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from sqlalchemy import Engine
from sqlmodel import Session
from sqlmodel import select
from temporalio.api.common.v1 import Payload
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from schemas.card_data import find_card_numbers
from schemas.identity import payment_workflow_id
from schemas.identity import refund_workflow_id
from schemas.runtime.payload_codec import codec_from_settings
from schemas.store.tables import PaymentRecord
from tests.e2e.conftest import create_payment
from tests.e2e.conftest import payment_body
from tests.e2e.conftest import wait_for_status
from tests.support.response_scan import API_KEY
from tests.support.response_scan import RESPONSE_HOOKS
from workers.stack import DEV_TENANT
from workers.stack import NAMESPACE
from workers.stack import EmbeddedStack
from workers.stack import find_temporal_binary

# Card numbers the refused requests carry, in the forms a client would write them.
REFUSED_PANS = ["4242 4242 4242 4242", "4000-0566-5566-5556", "4111111111111111"]
# A card-like digit run standing on its own: one inside a longer letters-and-digits token is
# part of an id (a UUID's groups, a trace id), which find_card_numbers alone would flag
# about once in 250 hex ids.
STANDALONE_DIGITS = re.compile(r"(?<![0-9A-Za-z-])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])")
# Request and run ids: 8-4-4 digits at a UUID's start would read as a 16-digit number.
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
# A CVV/CVC or a card number as a field, in JSON, a query string or a log's key=value.
CARD_FIELD = re.compile(r"""\b(cvv2?|cvc2?|card_?number)\b["']?\s*[:=]""", re.IGNORECASE)
PROVIDER_SECRET = re.compile(r"\b(sk|rk)_(test|live)_[A-Za-z0-9]{8,}")
# Where the server keeps payloads it must index or forward as they are (not codec-encoded
# by design): search attributes, and the headers carrying the trace context.
PLAIN_BY_DESIGN = {"search_attributes", "header"}
# A local activity's marker: the SDK's own bookkeeping (sequence, activity id and type,
# times), written by the SDK core as JSON; its result sits beside it, encrypted.
LOCAL_ACTIVITY_MARKER_DATA = "marker_recorded_event_attributes.details[data].payloads"
# A workflow.patched marker: the patch id, written by the SDK core as JSON.
PATCH_MARKER_DATA = "marker_recorded_event_attributes.details[patch-data].payloads"


@dataclass
class Scenarios:
    captured: str
    refunded: str
    refund: str
    declined: str
    three_d_secure: str

    @property
    def payment_ids(self) -> list[str]:
        return [self.captured, self.refunded, self.declined, self.three_d_secure]

    @property
    def workflow_ids(self) -> list[str]:
        payments = [payment_workflow_id(DEV_TENANT, p) for p in self.payment_ids]
        return [*payments, refund_workflow_id(DEV_TENANT, self.refund)]


def secrets_of(stack: EmbeddedStack) -> dict[str, str]:
    """Every secret of the stack, by name (the names, never the values, go in messages)."""
    settings = stack.settings()
    found = {
        "admin key": stack.admin_key,
        "codec token": stack.codec_token,
        "tenant API key": stack.api_key or "",
    }
    for key_id, key in settings.payload_keys.items():
        found[f"payload key {key_id} (base64)"] = key.get_secret_value()
        found[f"payload key {key_id} (raw)"] = base64.b64decode(key.get_secret_value()).decode(
            "latin-1"
        )
    return {name: value for name, value in found.items() if value}


# Random ids in the fields that hold them: a 16-hex span id is all digits and Luhn-valid
# about once in 20,000 (seen in a CI run), which is not a card number.
TRACE_IDS = re.compile(
    r'"(?:trace_id|span_id)": "[0-9a-f]{16,32}"|\b00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\b'
)


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """What must never be in ``text``: card numbers, card fields, secrets (named only)."""
    text = TRACE_IDS.sub("<trace ids>", text)
    found = [
        f"card-like number ending {pan[-4:]}"
        for run in STANDALONE_DIGITS.findall(UUID.sub("<uuid>", text))
        for pan in find_card_numbers(run)
    ]
    digits_only = re.sub(r"[ -]", "", text)
    found += [f"refused PAN ending {p[-4:]}" for p in REFUSED_PANS if p in text]
    found += [
        f"refused PAN ending {p[-4:]} (digits)"
        for p in REFUSED_PANS
        if re.sub(r"\D", "", p) in digits_only
    ]
    found += [f"card field {m.group(1)!r}" for m in CARD_FIELD.finditer(text)]
    found += ["a paysaga API key" for _ in API_KEY.finditer(text)]
    found += ["a provider secret key" for _ in PROVIDER_SECRET.finditer(text)]
    found += [name for name, value in secrets.items() if value in text]
    return found


def payloads_in(message: Message, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Payload]]:
    """Every Payload inside a protobuf message, with the field path that leads to it."""
    if isinstance(message, Payload):
        yield ".".join(path), message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated and field.message_type.GetOptions().map_entry:
            items = [
                (f"{field.name}[{key}]", item)
                for key, item in value.items()
                if isinstance(item, Message)
            ]
        elif field.is_repeated:
            items = [(field.name, item) for item in value]
        else:
            items = [(field.name, value)]
        for name, item in items:
            yield from payloads_in(item, (*path, name))


def is_encrypted(payload: Payload) -> bool:
    return (
        payload.metadata.get("encoding") == b"binary/encrypted"
        and bool(payload.metadata.get("encryption-key-id"))
        and b"json/plain" not in payload.data
    )


@pytest.fixture(scope="module")
async def scenarios(stack: EmbeddedStack) -> Scenarios:
    """The main payment shapes, each to its end."""
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, headers=stack.api_headers, event_hooks=RESPONSE_HOOKS
    ) as api:
        captured = await create_payment(
            api,
            customer_id="cus_pci_captured",
            description="Order 8812, two seats",
            metadata={"order": "8812"},
        )
        assert (captured.status_code, captured.json()["status"]) == (201, "succeeded")

        held = (await create_payment(api, capture_method="manual", amount=5_000)).json()
        assert held["status"] == "requires_capture", held
        capture = await api.post(f"/v1/payments/{held['payment_id']}/capture", json={})
        assert capture.status_code in (200, 202), capture.text
        await wait_for_status(api, held["payment_id"], "succeeded")
        refund = await api.post(
            f"/v1/payments/{held['payment_id']}/refunds",
            json={"amount": 1_200, "reason": "requested_by_customer"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert (refund.status_code, refund.json()["status"]) == (201, "succeeded"), refund.text

        declined = await create_payment(api, payment_method="tok_chargeDeclined")
        assert declined.json()["status"] == "declined", declined.text

        action = (await create_payment(api, payment_method="tok_threeDSecureRequired")).json()
        assert action["status"] == "requires_action", action
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as gateway:
            completed = await gateway.post(
                f"/v1/charges/{action['provider_reference']}/3ds/complete",
                json={"outcome": "succeed"},
            )
            assert completed.status_code == 200, completed.text
        confirmed = await api.post(f"/v1/payments/{action['payment_id']}/confirm", json={})
        assert confirmed.status_code == 202, confirmed.text
        await wait_for_status(api, action["payment_id"], "succeeded")

    return Scenarios(
        captured=captured.json()["payment_id"],
        refunded=held["payment_id"],
        refund=refund.json()["refund_id"],
        declined=declined.json()["payment_id"],
        three_d_secure=action["payment_id"],
    )


@pytest.fixture(scope="module")
async def raw_client(stack: EmbeddedStack) -> AsyncIterator[Client]:
    """Temporal as someone with server access but no payload keys reads it."""
    yield await Client.connect(stack.temporal_address, namespace=NAMESPACE)


async def test_card_numbers_in_free_text_are_refused_and_nothing_is_created(
    stack, api, stack_db: Engine
):
    customer = f"cus_pci_refused_{uuid.uuid4().hex[:8]}"
    key = uuid.uuid4().hex
    described = await api.post(
        "/v1/payments",
        json=payment_body(customer_id=customer, description="card 4242 4242 4242 4242"),
        headers={"Idempotency-Key": key},
    )
    assert described.status_code == 422
    assert described.headers["content-type"] == "application/problem+json"
    assert described.json()["code"] == "invalid_description"
    assert "card number" in described.json()["detail"]

    refused_elsewhere = {
        "metadata value": payment_body(customer_id=customer, metadata={"n": REFUSED_PANS[1]}),
        "metadata key": payment_body(customer_id=customer, metadata={REFUSED_PANS[2]: "x"}),
        "customer id": payment_body(customer_id=REFUSED_PANS[2]),
        "token-like PAN": payment_body(customer_id=customer, payment_method="tok_4111111111111111"),
    }
    for what, body in refused_elsewhere.items():
        response = await api.post(
            "/v1/payments", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert response.status_code == 422, (what, response.text)
    plan = await api.post(
        "/v1/plans",
        json={"name": REFUSED_PANS[0], "amount": 1_000, "currency": "USD", "interval": "month"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert plan.status_code == 422, plan.text

    # Nothing was created: no payment row, and the key was not taken by the refused body.
    with Session(stack_db) as session:
        stored = session.exec(select(PaymentRecord).where(PaymentRecord.customer_id == customer))
        assert stored.all() == []
    clean = await api.post(
        "/v1/payments", json=payment_body(customer_id=customer), headers={"Idempotency-Key": key}
    )
    assert clean.status_code == 201, clean.text


async def test_raw_histories_hold_ciphertext_only(stack, scenarios, raw_client):
    secrets = secrets_of(stack)
    codec = codec_from_settings(stack.settings())
    assert codec is not None
    kinds_checked: set[str] = set()
    for workflow_id in scenarios.workflow_ids:
        history = await raw_client.get_workflow_handle(workflow_id).fetch_history()
        blanked = []
        for event in history.events:
            kept = type(event)()
            kept.CopyFrom(event)
            for path, payload in payloads_in(kept):
                by_design = PLAIN_BY_DESIGN & {part.split("[")[0] for part in path.split(".")}
                if by_design or path in (LOCAL_ACTIVITY_MARKER_DATA, PATCH_MARKER_DATA):
                    continue  # still scanned below, with the rest of the event
                assert is_encrypted(payload), f"{workflow_id} {path} is stored in plain"
                kinds_checked.add(path.split(".")[0])
                ciphertext = payload.SerializeToString().decode("latin-1")
                assert not leaks(ciphertext, secrets), (workflow_id, path, leaks(ciphertext, {}))
                # Whoever holds the keys finds no card data inside either.
                [plain] = await codec.decode([payload])
                inside = plain.SerializeToString().decode("latin-1")
                assert not leaks(inside, secrets), (workflow_id, path, leaks(inside, secrets))
                payload.data = b""  # scanned: the rest of the event is read without it
            blanked.append(kept)
        # Everything else the server keeps in plain: ids, names, search attributes, failure
        # texts, headers (with the ciphertext left out, which is random bytes).
        for event in blanked:
            text = event.SerializeToString().decode("latin-1")
            found = leaks(text, secrets)
            assert not found, (workflow_id, EventType.Name(event.event_type), found)
    # The workflows' inputs, results, activity arguments and results were all among them.
    for kind in (
        "workflow_execution_started_event_attributes",
        "workflow_execution_completed_event_attributes",
        "activity_task_scheduled_event_attributes",
        "activity_task_completed_event_attributes",
        "marker_recorded_event_attributes",
    ):
        assert kind in kinds_checked, kinds_checked


async def test_search_attributes_hold_no_card_data_or_secret(stack, scenarios, raw_client):
    secrets = secrets_of(stack)
    for workflow_id in scenarios.workflow_ids:
        description = await raw_client.get_workflow_handle(workflow_id).describe()
        info = description.raw_description.workflow_execution_info
        assert info.search_attributes.indexed_fields, workflow_id
        for name, payload in info.search_attributes.indexed_fields.items():
            text = f"{name}={payload.SerializeToString().decode('latin-1')}"
            assert not leaks(text, secrets), (workflow_id, name, leaks(text, secrets))
        memo = info.memo.SerializeToString().decode("latin-1")
        assert not leaks(memo, secrets), (workflow_id, "memo")


async def test_the_codec_endpoint_gives_operators_the_plaintext(stack, scenarios, raw_client):
    handle = raw_client.get_workflow_handle(payment_workflow_id(DEV_TENANT, scenarios.captured))
    started = [
        event
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    ]
    stored = started[0].workflow_execution_started_event_attributes.input
    assert scenarios.captured.encode() not in stored.SerializeToString()
    body = json_format.MessageToDict(stored)

    async with httpx.AsyncClient(timeout=30) as http:
        refused = await http.post(f"{stack.api_url}/codec/decode", json=body)
        assert refused.status_code == 401
        # The CLI's form (token in a header) and the UI's (the stack's loopback proxy, which
        # adds the header).
        by_header = await http.post(
            f"{stack.api_url}/codec/decode",
            json=body,
            headers={"Authorization": f"Bearer {stack.codec_token}", "X-Namespace": NAMESPACE},
        )
        by_proxy = await http.post(f"{stack.codec_url}/decode", json=body)
    for response in (by_header, by_proxy):
        assert response.status_code == 200, response.text
        [plain] = json_format.ParseDict(response.json(), Payloads()).payloads
        assert plain.metadata["encoding"] == b"json/plain"
        assert scenarios.captured.encode() in plain.data
        assert b"Order 8812" in plain.data


async def test_the_temporal_cli_reads_the_plaintext_with_the_codec_token(stack, scenarios):
    show = [
        find_temporal_binary(),
        "workflow",
        "show",
        "--workflow-id",
        payment_workflow_id(DEV_TENANT, scenarios.captured),
        "--address",
        stack.temporal_address,
        "--namespace",
        NAMESPACE,
        "--detailed",
    ]
    codec = ["--codec-endpoint", f"{stack.api_url}/codec"]
    without = await run_cli(show)
    wrong = await run_cli([*show, *codec, "--codec-auth", "Bearer not-the-token"])
    with_token = await run_cli([*show, *codec, "--codec-auth", f"Bearer {stack.codec_token}"])
    assert "Order 8812" not in without.stdout
    assert "Order 8812" not in wrong.stdout
    assert with_token.returncode == 0, with_token.stderr
    assert "Order 8812" in with_token.stdout


async def run_cli(command: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )


async def test_log_files_hold_no_card_data_or_secret(stack, scenarios):
    """Last: after the refused requests and the codec calls above had their chance to leak."""
    secrets = secrets_of(stack)
    lines = log_lines(Path(stack.log_dir))
    assert {name for name, _, _ in lines} >= {
        "temporal.log",
        "gateway.log",
        "worker.log",
        "api.log",
    }
    for name, number, line in lines:
        found = leaks(line, secrets)
        assert not found, f"{name}:{number}: {', '.join(found)}"


def log_lines(log_dir: Path) -> list[tuple[str, int, str]]:
    """Every line of every log file, raw (JSON or text, whatever each process writes)."""
    lines = []
    for path in sorted(log_dir.glob("*.log")):
        with path.open(encoding="utf-8", errors="replace") as log:
            lines += [(path.name, number, line) for number, line in enumerate(log, 1)]
    return lines


@pytest.mark.parametrize(
    "pan", ["4242.4242.4242.4242", "4242_4242_4242_4242", "4242.4242_4242-4242"]
)
async def test_card_numbers_grouped_by_dots_or_underscores_are_refused(api, pan):
    customer = f"cus_pci_grouped_{uuid.uuid4().hex[:8]}"
    for what, body in {
        "description": payment_body(customer_id=customer, description=f"card {pan}"),
        "metadata value": payment_body(customer_id=customer, metadata={"n": pan}),
        "customer id": payment_body(customer_id=pan),
    }.items():
        response = await api.post(
            "/v1/payments", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert response.status_code == 422, (what, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert pan not in response.text


async def test_dotted_numbers_that_fail_luhn_are_accepted(api):
    # 16 digits grouped by dots whose checksum fails: an order number, not a card.
    response = await api.post(
        "/v1/payments",
        json=payment_body(description="order 4242.4242.4242.4241"),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
