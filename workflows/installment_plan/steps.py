"""The steps of an installment plan: admission, charging an installment (with dunning),
early payments applied in order, settling a charge whose outcome was unknown, recording.

Money is applied in installment order only: a payment completes the first unpaid
installment, then lowers what the next ones still owe. An installment whose charge outcome
is unknown (``requires_attention``) is never charged again until ``lookup_payment_outcome``
says how it ended.
"""

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas import errors
    from schemas.billing import CHARGED
    from schemas.billing import NOT_CHARGED
    from schemas.billing import UNSETTLED_RECHECK
    from schemas.billing import ChargeAttempt
    from schemas.identity import billing_payment_id
    from schemas.installments import Installment
    from schemas.installments import InstallmentPlanInput
    from schemas.installments import InstallmentPlanState
    from schemas.installments import InstallmentPlanStatus
    from schemas.installments import InstallmentStatus
    from schemas.installments import PayInstallmentsRequest
    from workflows.billing.charge import charge
    from workflows.billing.charge import settled_outcome
    from workflows.installment_plan.activities import admit_installment_plan
    from workflows.installment_plan.activities import record_installment_plan
    from workflows.kit import policies
    from workflows.kit import search_attributes as sa
    from workflows.kit.failures import admit

Status = InstallmentPlanStatus


def invalid(message: str, error_type: str = errors.INVALID_PLAN_STATE) -> ApplicationError:
    return ApplicationError(message, type=error_type, non_retryable=True)


class InstallmentSteps:
    def __init__(self, plan: InstallmentPlanInput) -> None:
        now = workflow.now()
        self.plan = plan
        self.payment_method = plan.payment_method
        # The customer's saved method, charged off-session; a new token replaces it.
        self.saved_method = plan.saved_method
        self.state = InstallmentPlanState(
            **plan.model_dump(
                exclude={
                    "payment_method",
                    "installments",
                    "dunning",
                    "charge_policy",
                    "saved_method",
                }
            ),
            installments=plan.installments,
            created_at=now,
            updated_at=now,
        )
        self.rejection: dict | None = None
        self._filed: tuple | None = None
        # The customer is here: the next charge waits for their action (3-D Secure). What
        # the schedule was before, so an attempt they do not finish costs no dunning retry.
        self._on_session: tuple | None = None
        self.on_session_payment_id: str | None = None

    async def admit(self) -> bool:
        admitted, self.rejection = await admit(admit_installment_plan, self.plan)
        if self.rejection is not None:
            self.state.status = Status.REJECTED
            self.state.failure_code = self.rejection["code"]
            self.state.failure_message = self.rejection["message"]
            return False
        self.state = admitted
        # The stored state is what the API answered with: filed under it already.
        self._filed = self._filing()
        return True

    # ----------------------------------------------------------------- charging

    def wake_at(self, installment: Installment) -> datetime:
        if installment.unsettled is not None:
            return installment.settle_at
        return installment.next_retry_at or installment.due_at

    async def charge_due(self, installment: Installment) -> None:
        """The installment's due date (or retry time) has come."""
        if installment.unsettled is not None and not await self._settle(installment):
            return
        schedule, self._on_session = self._on_session, None
        attempt = await self._charge(installment, installment.remaining, schedule is not None)
        if attempt.succeeded:
            self._apply(attempt.amount)
        elif attempt.outcome_unknown:
            self._unsettled(installment, attempt, scheduled=True)
            self._failed(installment, attempt.at, unknown=True)
        elif schedule is not None:
            installment.status, installment.next_retry_at, self.state.status = schedule
        else:
            self._failed(installment, attempt.at)

    async def pay_early(self, request: PayInstallmentsRequest) -> ChargeAttempt:
        self.check_payment(request)  # the plan may have moved on since the validator ran
        installment = self.state.first_unpaid()
        attempt = await self._charge(installment, request.amount or installment.remaining)
        if attempt.succeeded:
            self._apply(attempt.amount)
        elif attempt.outcome_unknown:
            self._unsettled(installment, attempt, scheduled=False)
        return attempt

    def check_payment(self, request: PayInstallmentsRequest) -> None:
        state = self.state
        if state.status not in (Status.ACTIVE, Status.PAST_DUE):
            raise invalid(f"the plan is {state.status.value}; payments need an active plan")
        current = state.first_unpaid()
        if current is None:
            raise invalid("nothing is left to pay")
        if current.unsettled is not None:
            raise invalid("a charge of this installment has an unknown outcome; wait for it")
        if request.installment is not None and request.installment != current.index:
            raise invalid(
                f"installment {current.index} is the first unpaid one; installments are "
                "paid in order",
                errors.INSTALLMENT_OUT_OF_ORDER,
            )
        # Computed, not refreshed: a validator must not change the state.
        outstanding = sum(i.remaining for i in state.installments)
        if request.amount is not None and request.amount > outstanding:
            raise invalid(
                f"{request.amount} exceeds the outstanding {outstanding} "
                f"({state.currency}, minor units)",
                errors.AMOUNT_EXCEEDS_OUTSTANDING,
            )

    async def _charge(
        self, installment: Installment, amount: int, on_session: bool = False
    ) -> ChargeAttempt:
        # Every attempt at an installment has its own number, early payments included: the
        # payment id ({plan}:{installment}:{attempt}) never repeats.
        number = len(installment.attempts) + 1
        if on_session:
            # The customer acts on this attempt's payment while it runs.
            plan_id = self.state.installment_plan_id
            self.on_session_payment_id = billing_payment_id(plan_id, installment.index, number)
        attempt = await charge(
            tenant_id=self.state.tenant_id,
            owner_id=self.state.installment_plan_id,
            period=installment.index,
            attempt=number,
            amount=amount,
            currency=self.state.currency,
            customer_id=self.state.customer_id,
            payment_method=self.payment_method,
            policy=self.plan.charge_policy,
            saved=self.saved_method,
            on_session=on_session,
            description=(
                f"Installment {installment.index}/{len(self.state.installments)} of "
                f"{self.state.installment_plan_id}"
            ),
        )
        installment.attempts.append(attempt)
        return attempt

    def _apply(self, amount: int) -> None:
        """Money received: the first unpaid installment first, then the next ones."""
        left = amount
        for installment in self.state.installments:
            if installment.done or left == 0:
                continue
            take = min(installment.remaining, left)
            installment.paid += take
            left -= take
            if installment.remaining == 0:
                self._on_session = None  # nothing left for the customer to finish
                installment.status = InstallmentStatus.PAID
                installment.next_retry_at = installment.first_failed_at = None
                installment.failures = 0
        current = self.state.first_unpaid()
        if self.state.status == Status.PAST_DUE and (current is None or current.failures == 0):
            self.state.status = Status.ACTIVE

    def _failed(self, installment: Installment, at: datetime, unknown: bool = False) -> None:
        delays = self.plan.dunning.retry_delays
        installment.failures += 1
        installment.first_failed_at = installment.first_failed_at or at
        if installment.failures <= len(delays):
            installment.status = InstallmentStatus.RETRYING
            retry_at = installment.first_failed_at + delays[installment.failures - 1]
            installment.next_retry_at = retry_at
            if unknown:
                installment.settle_at = retry_at
            self.state.status = Status.PAST_DUE
        elif unknown:
            # Never default on a charge that may have gone through: settle it first.
            installment.status = InstallmentStatus.RETRYING
            self.state.status = Status.PAST_DUE
        else:
            installment.status = InstallmentStatus.FAILED
            installment.next_retry_at = None
            self.state.status = Status.DEFAULTED

    def _unsettled(self, installment: Installment, attempt: ChargeAttempt, scheduled: bool):
        installment.unsettled = attempt
        installment.unsettled_was_scheduled = scheduled
        installment.settle_at = attempt.at + UNSETTLED_RECHECK

    async def _settle(self, installment: Installment) -> bool:
        """Look the unknown charge up; True when the installment may be charged now."""
        attempt = installment.unsettled
        outcome = await settled_outcome(attempt.payment_id)
        if outcome in CHARGED:
            self._settled(installment, outcome)
            self._apply(attempt.amount)
            return False
        if outcome not in NOT_CHARGED:  # still requires_attention (or not yet recorded)
            installment.settle_at = workflow.now() + UNSETTLED_RECHECK
            return False
        self._settled(installment, outcome)
        if not installment.unsettled_was_scheduled:
            return False  # an early payment that failed: the schedule goes on as it was
        if installment.failures > len(self.plan.dunning.retry_delays):
            installment.status = InstallmentStatus.FAILED
            installment.next_retry_at = None
            self.state.status = Status.DEFAULTED
            return False
        return True

    def _settled(self, installment: Installment, outcome: str) -> None:
        for attempt in installment.attempts:
            if attempt.payment_id == installment.unsettled.payment_id:
                attempt.status = outcome
        installment.unsettled = installment.settle_at = None

    # ----------------------------------------------------------------- operator

    def retry_now(self, payment_method: str | None) -> Installment:
        installment = self.state.first_unpaid()
        if payment_method is not None:
            self.payment_method, self.saved_method = payment_method, None
        installment.status = InstallmentStatus.RETRYING
        installment.next_retry_at = workflow.now()
        self.state.status = Status.PAST_DUE
        return installment

    def check_on_session(self) -> None:
        """Only a failed installment of a customer's saved method is charged on-session."""
        current = self.state.first_unpaid()
        if self.state.status not in (Status.PAST_DUE, Status.DEFAULTED) or not current.failures:
            raise invalid(f"the plan is {self.state.status.value}; nothing is past due")
        if current.unsettled is not None:
            raise invalid("a charge of this installment has an unknown outcome; wait for it")
        if self.saved_method is None:
            raise invalid("only a customer's saved method is charged on-session")

    @property
    def on_session_requested(self) -> bool:
        return self._on_session is not None

    def retry_on_session(self) -> None:
        """The failed installment is charged at once, on-session, by the charging loop."""
        installment = self.state.first_unpaid()
        if self._on_session is None:
            self._on_session = (installment.status, installment.next_retry_at, self.state.status)
        self.on_session_payment_id = None
        installment.status = InstallmentStatus.RETRYING
        installment.next_retry_at = workflow.now()
        self.state.status = Status.PAST_DUE

    def waive(self) -> None:
        installment = self.state.first_unpaid()
        installment.status = InstallmentStatus.WAIVED
        installment.next_retry_at = None
        self.state.status = Status.ACTIVE

    def finish(self, status: InstallmentPlanStatus, reason: str | None = None) -> None:
        self.state.status = status
        if reason:
            self.state.failure_code, self.state.failure_message = "canceled", reason

    # ----------------------------------------------------------------- recording

    async def record(self) -> None:
        state = self.state
        state.refresh_totals()
        current = state.first_unpaid()
        charging = current is not None and state.status in (Status.ACTIVE, Status.PAST_DUE)
        state.next_charge_at = self.wake_at(current) if charging else None
        state.updated_at = max(state.updated_at, workflow.now())
        self._file()
        await workflow.execute_local_activity(
            record_installment_plan, state, **policies.RECORD_CALL
        )

    def _filing(self) -> tuple:
        state = self.state
        return (state.status.value, state.installments_paid, state.next_charge_at)

    def _file(self) -> None:
        """Search attributes, upserted only when they changed (each upsert is an event)."""
        filing = self._filing()
        if filing == self._filed:
            return
        status, paid, next_charge_at = filing
        workflow.upsert_search_attributes(
            [
                sa.INSTALLMENT_PLAN_STATUS.value_set(status),
                sa.INSTALLMENTS_PAID.value_set(paid),
                sa.NEXT_CHARGE_AT.value_set(next_charge_at)
                if next_charge_at
                else sa.NEXT_CHARGE_AT.value_unset(),
            ]
        )
        self._filed = filing
