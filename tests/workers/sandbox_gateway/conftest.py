"""One real gateway subprocess for this package; faults are reset after every test."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gateway import start_gateway


def new_key(prefix: str = "key") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def charge_body(
    payment_method: str = "tok_visa",
    *,
    amount: int = 1000,
    capture: bool = False,
    reference: str | None = None,
    **extra: Any,
) -> dict:
    """A ``POST /v1/charges`` body, of a new reference unless one is given."""
    return {
        "amount": amount,
        "currency": "USD",
        "payment_method": payment_method,
        "capture": capture,
        "reference": reference or new_key("pay"),
        "customer_id": "cus_test",
        **extra,
    }


class Gateway:
    """A thin HTTP client of the gateway for tests (plain httpx, no knowledge of internals)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        """``token``: the gateway's credential, sent on every request when it has one."""
        self.base_url = base_url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, timeout=10, headers=headers)

    def charge(
        self, payment_method: str = "tok_visa", *, key: str | None = None, **fields: Any
    ) -> httpx.Response:
        """``fields`` as ``charge_body``'s."""
        return self.post("/v1/charges", charge_body(payment_method, **fields), key=key or new_key())

    def post(self, path: str, body: dict, *, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return self.http.post(path, json=body, headers=headers)

    def action(
        self, charge_id: str, action: str, body: dict | None = None, *, key: str | None = None
    ) -> httpx.Response:
        return self.post(f"/v1/charges/{charge_id}/{action}", body or {}, key=key or new_key())

    def authorized(self, amount: int = 1000, *, capture: bool = False) -> dict:
        response = self.charge(amount=amount, capture=capture)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, charge_id: str) -> httpx.Response:
        return self.http.get(f"/v1/charges/{charge_id}")

    def captured(self, amount: int, currency: str = "USD") -> dict:
        """A charge authorized and captured in one call."""
        response = self.charge(amount=amount, capture=True, currency=currency)
        assert response.status_code == 200, response.text
        return response.json()

    def refund(
        self,
        charge_id: str,
        amount: int | None = None,
        *,
        reference: str | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        body = {"charge": charge_id, "amount": amount, "reference": reference}
        return self.post("/v1/refunds", body, key=key or new_key())

    def transfer(self, amount: int, destination: str, **options: Any) -> httpx.Response:
        """To a connected account; ``options``: ``currency``, ``reference``, ``key``."""
        return self._send("/v1/transfers", amount, destination, **options)

    def reverse(
        self, transfer_id: str, amount: int | None = None, *, key: str | None = None
    ) -> httpx.Response:
        return self.post(
            f"/v1/transfers/{transfer_id}/reversals", {"amount": amount}, key=key or new_key()
        )

    def payout(
        self, amount: int, destination: str, bank_account: str = "ba_ok", **options: Any
    ) -> httpx.Response:
        """From a connected account to its bank; ``options`` as ``transfer``'s."""
        return self._send("/v1/payouts", amount, destination, bank_account=bank_account, **options)

    def _send(
        self,
        path: str,
        amount: int,
        destination: str,
        *,
        currency: str = "USD",
        reference: str | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> httpx.Response:
        """Money to ``destination``, of a new payout reference unless one is given."""
        body = {"amount": amount, "currency": currency, "destination": destination, **extra}
        body["reference"] = reference or new_key("po")
        return self.post(path, body, key=key or new_key())

    def available(self, account: str | None = None) -> dict[str, int]:
        """Currency → available amount of the platform, or of a connected account."""
        params = {"account": account} if account else {}
        response = self.http.get("/v1/balance", params=params)
        assert response.status_code == 200, response.text
        return {row["currency"]: row["amount"] for row in response.json()["available"]}

    def transactions(self, **params: Any) -> dict:
        response = self.http.get("/v1/balance_transactions", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def stats(self) -> dict:
        return self.http.get("/v1/stats").json()

    def set_faults(self, **config: Any) -> dict:
        response = self.http.put("/v1/faults", json=config)
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.http.close()


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def created(response: httpx.Response, id_prefix: str) -> dict:
    """The object a 200 answer carries, with an id of its kind's prefix."""
    assert response.status_code == 200, response.text
    made = response.json()
    assert made["id"].startswith(id_prefix)
    return made


@pytest.fixture(scope="session")
def gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_gateway(tmp_path_factory.mktemp("sandbox_gateway") / "gateway.db") as url:
        yield url


@pytest.fixture(scope="session")
def gateway_client(gateway_process: str) -> Iterator[Gateway]:
    client = Gateway(gateway_process)
    yield client
    client.close()


@pytest.fixture
def gateway(gateway_client: Gateway) -> Iterator[Gateway]:
    """The shared gateway, its faults cleared after each test."""
    yield gateway_client
    gateway_client.http.delete("/v1/faults")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


def new_account() -> str:
    return new_key("acct")


@pytest.fixture
def fresh_gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway of its own: empty balances and balance transactions, for exact totals."""
    with start_gateway(tmp_path / "fresh.db") as url:
        client = Gateway(url)
        yield client
        client.close()
