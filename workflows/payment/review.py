"""Manual review of a payment the risk rules held.

The payment is authorized without capture, then waits in ``in_review`` for an operator's
decision (the ``review`` update, from the API or the Temporal UI/CLI), a cancel, or its
deadline, when ``review_timeout_action`` decides for the operator. Every decision is kept in
``state.review`` (who, when, why, through which channel) and in the step history.
"""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.payments import CancelRequest
    from schemas.payments import PaymentInput
    from schemas.payments import PaymentStatus
    from schemas.risk_review import ReviewDecision
    from schemas.risk_review import ReviewRecord
    from workflows.kit.outcomes import StepFailed
    from workflows.kit.patches import RISK_REVIEW
    from workflows.kit.waits import wait_within
    from workflows.payment.steps import PaymentSteps

REVIEW_STEP = "review_payment"
# Who decides when no operator did before the deadline.
TIMEOUT_REVIEWER = "paysaga"


class PaymentReview:
    """The review gate of one payment; ``decision`` is set by the ``review`` update."""

    def __init__(self) -> None:
        self.decision: ReviewDecision | None = None

    async def hold(
        self,
        payment: PaymentInput,
        steps: PaymentSteps,
        canceled: Callable[[], CancelRequest | None],
    ) -> None:
        """Returns once the payment is approved; raises ``StepFailed`` when it is rejected
        (by an operator or the deadline) or canceled, so the saga voids the authorization."""
        workflow.patched(RISK_REVIEW)
        opened = workflow.now()
        steps.state.review = ReviewRecord(
            opened_at=opened,
            deadline=opened + payment.review_timeout,
            timeout_action=payment.review_timeout_action,
        )
        await steps.pause(PaymentStatus.IN_REVIEW)
        decided = await wait_within(
            lambda: self.decision is not None or canceled() is not None, payment.review_timeout
        )
        if self.decision is not None:
            steps.state.review.reviewer_name = self.decision.reviewer_name
            self._close(
                steps,
                self.decision.decision,
                self.decision.reviewer,
                self.decision.reason,
                self.decision.channel,
                failure_code="review_rejected",
            )
        elif decided:
            request = canceled()
            raise StepFailed(PaymentStatus.CANCELED, "canceled", request and request.reason)
        else:
            self._close(
                steps,
                payment.review_timeout_action,
                TIMEOUT_REVIEWER,
                f"no decision within {_hours(payment.review_timeout)}",
                "timeout",
                failure_code="review_expired",
            )

    @staticmethod
    def _close(steps, verdict, reviewer, reason, channel, failure_code: str) -> None:
        review = steps.state.review
        review.decision, review.reviewer, review.reason = verdict, reviewer, reason
        review.channel, review.decided_at = channel, workflow.now()
        approved = verdict == "approve"
        steps.log.ran(
            REVIEW_STEP,
            review.opened_at,
            "succeeded" if approved else "failed",
            f"{'approved' if approved else 'rejected'} by {reviewer}: {reason}",
        )
        if not approved:
            raise StepFailed(PaymentStatus.DECLINED, failure_code, reason)


def _hours(duration: timedelta) -> str:
    hours = duration / timedelta(hours=1)
    return f"{hours:g} h" if hours >= 1 else f"{duration.total_seconds():g} s"
