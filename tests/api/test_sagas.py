"""The saga client's pure parts: what a saga's refusal answers, and the state it shows
before a worker has run it."""

from datetime import UTC
from datetime import datetime

import pytest
from temporalio.exceptions import ApplicationError

from api.problems import CATALOGUE
from api.problems import Problem
from api.sagas import REFUSALS
from api.sagas import refusal
from api.sagas import state_from_input
from schemas import errors
from schemas.payouts import PayoutInput
from schemas.payouts import PayoutState
from schemas.refunds import RefundInput
from schemas.refunds import RefundState

NOW = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(("error_type", "code"), REFUSALS.items())
def test_an_update_validators_refusal_answers_its_problem(error_type, code):
    problem = refusal(ApplicationError("payment is succeeded", type=error_type))

    assert problem is not None
    assert (problem.status, problem.code, problem.detail) == (
        CATALOGUE[code][0],
        code,
        "payment is succeeded",
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [("amount_exceeds_refundable", 422), ("invoice_locked", 409), ("ledger_unavailable", 503)],
)
def test_a_rejected_saga_answers_the_problem_its_code_names(code, status):
    cause = ApplicationError("no", {"code": code, "message": "why"}, type=errors.REJECTED)

    problem = refusal(cause)

    assert problem is not None
    assert (problem.status, problem.code, problem.detail) == (status, code, "why")


@pytest.mark.parametrize(
    "cause",
    [
        ApplicationError(
            "no", {"code": "not_a_problem_code", "message": "why"}, type=errors.REJECTED
        ),
        ApplicationError("no", type=errors.REJECTED),
    ],
)
def test_a_rejection_without_a_known_code_is_still_a_409(cause):
    problem = refusal(cause)

    assert problem is not None
    assert (problem.status, problem.code) == (409, "invalid_state")


@pytest.mark.parametrize(
    "cause",
    [
        ApplicationError("boom", type="SomethingElse"),
        RuntimeError("not from the saga"),
        None,
    ],
)
def test_anything_else_is_no_refusal(cause):
    assert refusal(cause) is None


def test_a_problem_takes_status_and_title_from_the_catalogue():
    problem = Problem("invalid_state", "payment is succeeded; this needs requires_capture")

    assert (problem.status, problem.title) == CATALOGUE["invalid_state"]
    with pytest.raises(KeyError):
        Problem("no_such_code")


def test_a_refund_not_yet_run_shows_its_input_and_an_amount_still_to_decide():
    refund = RefundInput(refund_id="re_1", tenant_id="ten_a", payment_id="pay_1", reason=None)

    state = state_from_input(RefundState, refund, NOW)

    assert state == RefundState(
        refund_id="re_1", tenant_id="ten_a", payment_id="pay_1", created_at=NOW, updated_at=NOW
    )
    assert state.amount == 0


def test_a_payout_not_yet_run_shows_its_amount_when_the_client_named_one():
    payout = PayoutInput(
        payout_id="po_1", tenant_id="ten_a", account_id="acct_1", amount=500, currency="USD"
    )

    state = state_from_input(PayoutState, payout, NOW)

    assert (state.amount, state.currency, state.created_at) == (500, "USD", NOW)
