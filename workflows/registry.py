"""Every workflow class, for the worker and the replay test (as ``workflows.WORKFLOWS``)."""

from workflows.dispute.workflow import DisputeWorkflow
from workflows.email_delivery.workflow import EmailDeliveryWorkflow
from workflows.installment_plan.workflow import InstallmentPlanWorkflow
from workflows.payment.workflow import PaymentWorkflow
from workflows.payout.scheduled import ScheduledPayoutWorkflow
from workflows.payout.workflow import PayoutWorkflow
from workflows.reconciliation.report import ReconciliationReportWorkflow
from workflows.reconciliation.workflow import ReconciliationWorkflow
from workflows.refund.workflow import RefundWorkflow
from workflows.saved_method.workflow import SavePaymentMethodWorkflow
from workflows.settlement.workflow import SettlementWorkflow
from workflows.subscription.workflow import SubscriptionWorkflow
from workflows.webhook_delivery.workflow import WebhookDeliveryWorkflow

WORKFLOWS = [
    PaymentWorkflow,
    RefundWorkflow,
    PayoutWorkflow,
    ScheduledPayoutWorkflow,
    SubscriptionWorkflow,
    ReconciliationWorkflow,
    ReconciliationReportWorkflow,
    InstallmentPlanWorkflow,
    SettlementWorkflow,
    DisputeWorkflow,
    SavePaymentMethodWorkflow,
    WebhookDeliveryWorkflow,
    EmailDeliveryWorkflow,
]
