"""Idempotent execution of money-moving requests.

Keys are scoped to (method, path). Same key and same body: the stored status and body are
replayed. Same key and another body: 422 ``idempotency_mismatch``. Requests with the same key
are serialized by a per-key lock, so exactly one applies; the answer is stored in the same
transaction as the state change. Faults: latency before everything, 503 only before a first
application, hangs only after one — never while a lock is held.
"""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from typing import NamedTuple

from workers.sandbox_gateway.errors import UNAVAILABLE
from workers.sandbox_gateway.errors import GatewayError
from workers.sandbox_gateway.faults import Faults
from workers.sandbox_gateway.faults import Operation
from workers.sandbox_gateway.store import Record
from workers.sandbox_gateway.store import Store
from workers.sandbox_gateway.store import Tx


class Answer(NamedTuple):
    """What an operation answers. ``charge_id``: the charge it concerned, if any (kept with
    the application; None for transfers and payouts). ``applied=False`` (e.g. a confirmation
    whose challenge is still pending) is neither stored under the key nor counted."""

    status: int
    body: dict[str, Any]
    charge_id: str | None
    applied: bool = True


@dataclass(frozen=True)
class Outcome:
    status: int
    body: str  # JSON text, replayed byte for byte
    replayed: bool = False
    applied: bool = False


def request_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _encode(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


class KeyedLocks:
    """One ``asyncio.Lock`` per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, ...], tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: tuple[str, ...]) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]


class IdempotentExecutor:
    def __init__(self, store: Store, faults: Faults) -> None:
        self._store = store
        self._faults = faults
        self._locks = KeyedLocks()

    async def execute(
        self,
        *,
        method: str,
        path: str,
        key: str,
        payload: dict[str, Any],
        operation: Operation,
        apply: Callable[[Tx], Answer],
    ) -> Outcome:
        fingerprint = request_hash(payload)
        latency = self._faults.latency_seconds(operation)
        if latency:
            await asyncio.sleep(latency)
        async with self._locks.hold((method, path, key)):
            outcome = await asyncio.to_thread(self._replay, method, path, key, fingerprint)
            if outcome is None:
                if self._faults.fail_before_apply(operation):
                    raise UNAVAILABLE
                outcome = await asyncio.to_thread(
                    self._apply, method, path, key, fingerprint, operation, apply
                )
        if outcome.applied:
            hang = self._faults.hang_after_apply_seconds(operation)
            if hang:
                await asyncio.sleep(hang)  # committed already: the client may give up
        return outcome

    def _replay(self, method: str, path: str, key: str, fingerprint: str) -> Outcome | None:
        with self._store.transaction() as tx:
            return self._replay_in(tx, method, path, key, fingerprint)

    @staticmethod
    def _replay_in(tx: Tx, method: str, path: str, key: str, fingerprint: str) -> Outcome | None:
        record = tx.get_record(method, path, key)
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise GatewayError(
                422,
                "idempotency_error",
                "idempotency_mismatch",
                "this Idempotency-Key was already used with a different request body",
            )
        tx.count_replay(method, path, key)
        return Outcome(record.status_code, record.body, replayed=True)

    def _apply(
        self,
        method: str,
        path: str,
        key: str,
        fingerprint: str,
        operation: Operation,
        apply: Callable[[Tx], Answer],
    ) -> Outcome:
        with self._store.transaction() as tx:
            replay = self._replay_in(tx, method, path, key, fingerprint)
            if replay is not None:
                return replay
            answer = apply(tx)
            body = _encode(answer.body)
            if answer.applied:
                tx.put_record(method, path, key, Record(fingerprint, answer.status, body))
                tx.count_application(key, operation, answer.charge_id, answer.status)
            return Outcome(answer.status, body, applied=answer.applied)
