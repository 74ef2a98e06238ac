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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from workers.stack import free_port

# localstripe accepts any key that starts with ``sk_``.
LOCALSTRIPE_API_KEY = "sk_test_paysaga"

# Stripe test cards that localstripe knows (resources.py, PaymentMethod).
CARD_OK = "4242424242424242"
CARD_CHARGE_DECLINED = "4000000000000341"  # created fine, declined when charged
CARD_THREE_D_SECURE = "4000002760003184"  # requires_action until authenticated


class LocalStripe:
    """``localstripe --port N --from-scratch`` in its own process group."""

    def __init__(self, log_path: Path, startup_timeout: float = 20.0) -> None:
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> str:
        for _ in range(3):  # another process may take the free port before localstripe binds it
            port = free_port()
            if self._launch(port):
                self.url = f"http://127.0.0.1:{port}"
                return self.url
        raise RuntimeError(f"localstripe did not start:\n{self._log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def _launch(self, port: int) -> bool:
        binary = str(Path(sys.executable).parent / "localstripe")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "--port", str(port), "--from-scratch"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own, stopped as one
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if _answers(f"http://127.0.0.1:{port}"):
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"localstripe not answering after {self.startup_timeout}s")

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def _answers(base_url: str) -> bool:
    try:
        response = httpx.get(f"{base_url}/v1/balance", headers=_auth(), timeout=0.5)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


@contextmanager
def start_localstripe(log_path: Path) -> Iterator[str]:
    """Run localstripe on a free port for the block; yields its base URL."""
    server = LocalStripe(log_path)
    try:
        yield server.start()
    finally:
        server.stop()


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
