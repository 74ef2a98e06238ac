"""The Idempotency-Key store on real SQLite and PostgreSQL: claim, replay, release, takeover."""

import threading
from datetime import timedelta

import pytest
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select

from api.idempotency import Claim
from api.idempotency import IdempotencyStore
from api.idempotency import Replay
from api.problems import Problem
from schemas.store.tables import IdempotentRequest

DAY = timedelta(hours=24)
LOCK = timedelta(seconds=35)


def store(engine: Engine, retention=DAY, lock_timeout=LOCK) -> IdempotencyStore:
    return IdempotencyStore(engine, retention, lock_timeout)


def answer(status: int, body: str = '{"payment_id":"pay_1"}') -> Response:
    return Response(body, status, media_type="application/json")


def problem_code(call) -> tuple[int, str]:
    with pytest.raises(Problem) as raised:
        call()
    return raised.value.status, raised.value.code


def test_concurrent_claims_of_one_key_have_one_winner(database_engine):
    keys = store(database_engine)
    barrier = threading.Barrier(8)
    outcomes: list = []

    def claim(index: int) -> None:
        barrier.wait()
        try:
            outcomes.append(keys.claim("ten_a", "order-1", "f" * 64, f"pay_{index}"))
        except Problem as problem:
            outcomes.append(problem.code)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [o for o in outcomes if isinstance(o, Claim)]
    assert len(winners) == 1
    assert (
        sorted(o for o in outcomes if not isinstance(o, Claim)) == ["idempotency_in_progress"] * 7
    )


def test_a_final_answer_is_replayed_byte_for_byte(database_engine):
    keys = store(database_engine)
    claim = keys.claim("ten_a", "order-2", "f" * 64, "pay_first")
    keys.finish("ten_a", "order-2", claim.token, answer(201), replay_202=True)

    replay = keys.claim("ten_a", "order-2", "f" * 64, "pay_second")
    assert replay == Replay(201, '{"payment_id":"pay_1"}')
    # Another request under the key, and the same key of another tenant.
    assert problem_code(lambda: keys.claim("ten_a", "order-2", "e" * 64, "pay_x")) == (
        422,
        "idempotency_mismatch",
    )
    assert isinstance(keys.claim("ten_b", "order-2", "e" * 64, "pay_b"), Claim)


@pytest.mark.parametrize(("status", "replay_202"), [(503, True), (500, True), (202, False)])
def test_no_final_answer_releases_the_key_for_the_same_resource(
    database_engine, status, replay_202
):
    keys = store(database_engine)
    first = keys.claim("ten_a", "order-3", "f" * 64, "pay_first")
    keys.finish("ten_a", "order-3", first.token, answer(status), replay_202=replay_202)

    retry = keys.claim("ten_a", "order-3", "f" * 64, "pay_other")
    assert isinstance(retry, Claim)
    assert retry.resource_id == "pay_first"  # the retry joins the same payment


def test_a_stale_lock_is_taken_over_and_its_late_answer_ignored(database_engine):
    keys = store(database_engine, lock_timeout=timedelta(0))
    dead = keys.claim("ten_a", "order-4", "f" * 64, "pay_first")
    retry = keys.claim("ten_a", "order-4", "f" * 64, "pay_other")
    assert isinstance(retry, Claim) and retry.resource_id == "pay_first"

    keys.finish("ten_a", "order-4", dead.token, answer(201, '{"late":true}'), replay_202=True)
    keys.finish("ten_a", "order-4", retry.token, answer(201), replay_202=True)
    assert keys.claim("ten_a", "order-4", "f" * 64, "pay_x") == Replay(
        201, '{"payment_id":"pay_1"}'
    )


def test_keys_past_retention_are_free_again_and_purged(database_engine):
    keys = store(database_engine)
    claim = keys.claim("ten_a", "order-5", "f" * 64, "pay_first")
    keys.finish("ten_a", "order-5", claim.token, answer(201), replay_202=True)

    expired = store(database_engine, retention=timedelta(0))
    reused = expired.claim("ten_a", "order-5", "e" * 64, "pay_new")
    assert isinstance(reused, Claim) and reused.resource_id == "pay_new"
    assert store(database_engine).purge_expired() == 0  # nothing older than a day

    assert expired.purge_expired() == 1
    with database_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(IdempotentRequest)).scalar() == 0
