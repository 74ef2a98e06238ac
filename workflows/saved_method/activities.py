"""The activities saving a payment method calls, as typed stubs (as in
``payment/activities.py``)."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.customers import CancelSetupCommand
    from schemas.customers import DefaultMethodCommand
    from schemas.customers import RecordedMethod
    from schemas.customers import RecordMethod
    from schemas.customers import SetupCommand
    from schemas.customers import SetupReference
    from schemas.customers import SetupResult


@activity.defn
async def set_up_payment_method(command: SetupCommand) -> SetupResult: ...


@activity.defn
async def check_payment_method_setup(setup: SetupReference) -> SetupResult: ...


@activity.defn
async def cancel_payment_method_setup(command: CancelSetupCommand) -> SetupResult | None: ...


@activity.defn
async def make_default_payment_method(command: DefaultMethodCommand) -> None: ...


@activity.defn
def record_saved_method(record: RecordMethod) -> RecordedMethod: ...
