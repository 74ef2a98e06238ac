"""SavePaymentMethodWorkflow: a customer's card saved through the provider's setup flow
(Stripe: a SetupIntent for off-session use), waiting for the customer when the card asks for
3-D Secure.

Steps: set up at the provider (key ``{saved method}:setup``) → record the method
(``active``, or ``requires_action`` with the setup's id) → if the customer must act: wait for
``confirm`` (the customer's client is done) up to ``action_timeout``, then ask the provider →
record it ``active`` (the customer's default when asked, or when it had none, at the provider
too), or, the setup abandoned (not confirmed in time, or confirmed unfinished), cancel it at
the provider (key ``{saved method}:cancel_setup``) and record it ``failed``. The ``answer``
update returns the method as first recorded, so the API answers at that first milestone.
"""

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from schemas.customers import CancelSetupCommand
    from schemas.customers import DefaultMethodCommand
    from schemas.customers import RecordedMethod
    from schemas.customers import RecordMethod
    from schemas.customers import SavedPaymentMethod
    from schemas.customers import SaveMethodInput
    from schemas.customers import SetupCommand
    from schemas.customers import SetupReference
    from schemas.customers import SetupResult
    from workflows.kit import patches
    from workflows.kit import policies
    from workflows.kit.failures import cause_of
    from workflows.kit.failures import refusal
    from workflows.kit.failures import refused

from workflows.saved_method.activities import cancel_payment_method_setup
from workflows.saved_method.activities import check_payment_method_setup
from workflows.saved_method.activities import make_default_payment_method
from workflows.saved_method.activities import record_saved_method
from workflows.saved_method.activities import set_up_payment_method


@workflow.defn
class SavePaymentMethodWorkflow:
    def __init__(self) -> None:
        self._method: SavedPaymentMethod | None = None
        self._confirmed = False

    @workflow.run
    async def run(self, save: SaveMethodInput) -> SavedPaymentMethod:
        method = SavedPaymentMethod(
            payment_method_id=save.payment_method_id,
            customer_id=save.customer_id,
            tenant_id=save.tenant_id,
            provider=save.provider,
            provider_reference=save.token,
            status="requires_action",
            created_at=save.created_at,
        )
        command = SetupCommand(
            payment_method_id=save.payment_method_id,
            tenant_id=save.tenant_id,
            provider=save.provider,
            customer_reference=save.customer_reference,
            payment_method=save.token,
            idempotency_key=f"{save.payment_method_id}:setup",
        )
        setup = await self._provider(set_up_payment_method, command, method, save)
        if setup is None:
            return self._method
        method.setup_reference = setup.reference
        if setup.status == "requires_action":
            await self._record(method, save)
            try:
                await workflow.wait_condition(lambda: self._confirmed, timeout=save.action_timeout)
                check = SetupReference(provider=save.provider, reference=setup.reference)
                setup = await self._provider(check_payment_method_setup, check, method, save)
                abandoned = "action_failed"
            except TimeoutError:
                abandoned = "action_expired"
            if setup is None:
                return self._method
            if setup.status == "requires_action":
                setup = await self._abandon(setup, method, save, abandoned)
                if setup is None:
                    return self._method
        card = setup.card
        assert card is not None, "a set-up method has the provider's card"
        method = method.model_copy(
            update={"status": "active"}
            | card.model_dump(exclude={"reference"})
            | {"provider_reference": card.reference}
        )
        recorded = await self._record(method, save)
        if recorded.became_default:
            default = DefaultMethodCommand(
                provider=save.provider,
                customer_reference=save.customer_reference,
                method_reference=card.reference,
            )
            await workflow.execute_activity(
                make_default_payment_method, default, **policies.PROVIDER_CALL
            )
        return self._method

    @workflow.update
    async def answer(self) -> SavedPaymentMethod:
        """The method at its first milestone: saved, waiting for the customer, or refused."""
        await workflow.wait_condition(lambda: self._method is not None)
        return self._method

    @workflow.signal
    def confirm(self) -> None:
        """The customer's client finished the provider's action; the provider is asked."""
        self._confirmed = True

    @workflow.query
    def state(self) -> SavedPaymentMethod | None:
        return self._method

    async def _provider(
        self,
        step,
        argument,
        method: SavedPaymentMethod,
        save: SaveMethodInput,
    ) -> SetupResult | None:
        """The provider's answer; its refusal records the method ``failed`` (None)."""
        try:
            return await workflow.execute_activity(step, argument, **policies.PROVIDER_CALL)
        except ActivityError as failure:
            cause = cause_of(failure)
            code = refusal(cause).code if refused(failure) else "provider_unavailable"
            await self._failed(method, save, code)
            return None

    async def _abandon(
        self, setup: SetupResult, method: SavedPaymentMethod, save: SaveMethodInput, code: str
    ) -> SetupResult | None:
        """The customer did not finish: the setup is canceled at the provider (so it cannot
        attach the card later) and the method recorded ``failed`` (None), unless the provider
        says it succeeded meanwhile (that setup, to be saved)."""
        if workflow.patched(patches.CANCEL_ABANDONED_SETUP):
            cancel = CancelSetupCommand(
                provider=save.provider,
                reference=setup.reference,
                idempotency_key=f"{save.payment_method_id}:cancel_setup",
            )
            try:
                succeeded = await workflow.execute_activity(
                    cancel_payment_method_setup, cancel, **policies.PROVIDER_CALL
                )
            except ActivityError as failure:
                succeeded = None
                if not refused(failure):
                    raise
            if succeeded is not None:
                return succeeded
        await self._failed(method, save, code)
        return None

    async def _failed(
        self, method: SavedPaymentMethod, save: SaveMethodInput, code: str
    ) -> SavedPaymentMethod:
        failed = method.model_copy(update={"status": "failed", "failure_code": code})
        await self._record(failed, save)
        return self._method

    async def _record(self, method: SavedPaymentMethod, save: SaveMethodInput) -> RecordedMethod:
        record = RecordMethod(method=method, make_default=save.set_default)
        recorded = await workflow.execute_activity(
            record_saved_method, record, **policies.RECORD_CALL
        )
        self._method = recorded.method
        return recorded
