"""The activities the payment saga calls, as typed stubs: each is named like the activity
(the worker registers an implementation under the same name, with the same types) and the
SDK takes its result type from the stub."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.fraud import ScreeningCommand
    from schemas.fraud import ScreeningDecision
    from schemas.ledger import RecordPaymentCommand
    from schemas.provider import AuthorizeCommand
    from schemas.provider import ChargeCommand
    from schemas.provider import ChargeResult


@activity.defn
def screen_payment(command: ScreeningCommand) -> ScreeningDecision: ...


@activity.defn
async def authorize_payment(command: AuthorizeCommand) -> ChargeResult: ...


@activity.defn
async def confirm_payment_action(command: ChargeCommand) -> ChargeResult: ...


@activity.defn
async def capture_payment(command: ChargeCommand) -> ChargeResult: ...


@activity.defn
async def void_authorization(command: ChargeCommand) -> ChargeResult: ...


@activity.defn
async def refund_payment(command: ChargeCommand) -> ChargeResult: ...


@activity.defn
def record_payment(command: RecordPaymentCommand) -> None: ...
