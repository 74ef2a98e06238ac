"""The REST client of a chaos run: every call that fails for transport reasons or with a
5xx is sent again *with the same Idempotency-Key* after a bounded backoff, because
deduplicating those retries is exactly what the system under test must do."""

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field

import httpx

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 4.0


class CallFailed(Exception):
    """A call that kept failing until its deadline, or answered an unexpected 4xx."""


@dataclass
class ClientStats:
    calls: int = 0
    retries: int = 0
    retries_by_reason: Counter = field(default_factory=Counter)
    answers: Counter = field(default_factory=Counter)  # "POST /v1/payments 201": n
    # Accepted answers that are not successes (e.g. 409 because the payment moved on).
    accepted: list[str] = field(default_factory=list)


class RetryingClient:
    def __init__(self, http: httpx.AsyncClient, rng: random.Random, call_deadline: float):
        self._http = http
        self._rng = rng
        self._call_deadline = call_deadline
        self.stats = ClientStats()

    async def request(
        self,
        method: str,
        url: str,
        *,
        label: str,
        json: dict | None = None,
        key: str | None = None,
        ok: frozenset[int] = frozenset({200, 201, 202}),
        accept: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send until the answer is in ``ok`` or ``accept`` (e.g. 409: the payment moved on).

        Retried: transport errors, 5xx (503 while Temporal is down) and 409
        ``idempotency_in_progress`` (the first try, given up on, still runs). Anything else
        is a ``CallFailed``.
        """
        headers = {"Idempotency-Key": key} if key else None
        deadline = time.monotonic() + self._call_deadline
        attempt = 0
        self.stats.calls += 1
        while True:
            try:
                response = await self._http.request(method, url, json=json, headers=headers)
            except httpx.TransportError as exc:
                reason = f"transport:{type(exc).__name__}"
            else:
                self.stats.answers[f"{label} {response.status_code}"] += 1
                if response.status_code in ok:
                    return response
                if response.status_code in accept:
                    detail = response.json().get("detail", "") if response.content else ""
                    self.stats.accepted.append(f"{label} {url} {response.status_code}: {detail}")
                    return response
                if response.status_code < 500 and not _in_progress(response):
                    raise CallFailed(f"{label}: {response.status_code} {response.text[:300]}")
                reason = f"http:{response.status_code}"
            if time.monotonic() >= deadline:
                raise CallFailed(f"{label}: still failing after {attempt + 1} attempts ({reason})")
            self.stats.retries += 1
            self.stats.retries_by_reason[reason] += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt) * self._rng.uniform(0.5, 1.5)
            attempt += 1
            await asyncio.sleep(delay)


def _in_progress(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    try:
        return response.json().get("code") == "idempotency_in_progress"
    except ValueError:
        return False
