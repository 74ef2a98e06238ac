"""The activities an installment plan calls, as typed stubs (as in
``payment/activities.py``)."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.installments import InstallmentPlanInput
    from schemas.installments import InstallmentPlanState


@activity.defn
def admit_installment_plan(plan: InstallmentPlanInput) -> InstallmentPlanState: ...


@activity.defn
def record_installment_plan(state: InstallmentPlanState) -> None: ...
