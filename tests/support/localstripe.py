"""localstripe (a stateful fake Stripe, installed with the test extras) as a real subprocess for
tests.

    with start_localstripe(tmp_path / "localstripe.log") as base_url:
        ...  # StripeProvider(LOCALSTRIPE_API_KEY, api_base=base_url)

Plus what a customer does there and a merchant cannot: turn a test card number into a
PaymentMethod (``card_payment_method``) and pass or fail 3-D Secure through localstripe's own
simulation endpoint, ``POST /v1/payment_intents/{id}/_authenticate`` (``authenticate``).

localstripe writes its store to ``/tmp/localstripe.pickle`` after every POST, whoever runs
it; ``--from-scratch`` keeps each instance from loading another's state.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import httpx

from tests.support.server_process import ServerProcess

_ROOT = Path(__file__).resolve().parents[2]
# localstripe accepts any key that starts with ``sk_``.
LOCALSTRIPE_API_KEY = "sk_test_paysaga"

# Stripe test cards that localstripe knows (resources.py, PaymentMethod).
CARD_OK = "4242424242424242"
CARD_CHARGE_DECLINED = "4000000000000341"  # created fine, declined when charged
CARD_THREE_D_SECURE = "4000002760003184"  # requires_action until authenticated


class LocalStripe(ServerProcess):
    """``localstripe --port N --from-scratch`` in its own process group, with Stripe's rules
    for saved payment methods that it lacks (``localstripe_strict``)."""

    name = "localstripe"

    def command(self, port: int) -> list[str]:
        # localstripe with Stripe's rules it lacks and the test-only route that fails a
        # refund late (``localstripe_server`` loads ``localstripe_strict`` first).
        module = "tests.support.localstripe_server"
        return [sys.executable, "-m", module, "--port", str(port), "--from-scratch"]

    def spawn(self, command: list[str], log: IO[bytes]) -> subprocess.Popen:
        # A process group of its own, stopped as one.
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=_ROOT
        )

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)

    def answers(self, base_url: str) -> bool:
        try:
            response = httpx.get(f"{base_url}/v1/balance", headers=_auth(), timeout=0.5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def start_localstripe(log_path: Path) -> LocalStripe:
    """localstripe on a free port for a ``with`` block, which gets its base URL."""
    return LocalStripe(log_path)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"}


async def card_payment_method(base_url: str, number: str) -> str:
    """A ``pm_…`` for a test card number, as Stripe.js would create it in the browser."""
    card = {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
    form = {"type": "card"} | {f"card[{key}]": value for key, value in card.items()}
    async with httpx.AsyncClient(base_url=base_url, headers=_auth()) as client:
        response = await client.post("/v1/payment_methods", data=form)
    response.raise_for_status()
    return response.json()["id"]


async def authenticate(base_url: str, payment_intent: str, *, success: bool = True) -> None:
    """The customer passes (or fails) 3-D Secure: localstripe's own simulation endpoint, which
    wants the PaymentIntent's client secret like Stripe.js does."""
    async with httpx.AsyncClient(base_url=base_url, headers=_auth()) as client:
        intent = (await client.get(f"/v1/payment_intents/{payment_intent}")).json()
        response = await client.post(
            f"/v1/payment_intents/{payment_intent}/_authenticate",
            data={"client_secret": intent["client_secret"], "success": str(success).lower()},
        )
    response.raise_for_status()


async def fail_refund(base_url: str, refund: str, failure_reason: str) -> dict:
    """The card issuer fails a refund Stripe had accepted (``localstripe_server``'s route):
    the refund as Stripe now shows it, for the ``refund.failed`` event."""
    async with httpx.AsyncClient(base_url=base_url, headers=_auth()) as client:
        response = await client.post(
            f"/_test/refunds/{refund}/fail", data={"failure_reason": failure_reason}
        )
    response.raise_for_status()
    return response.json()
