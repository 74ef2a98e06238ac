"""What every reconciliation step shares: how it reads the provider, how it logs itself."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.kit import policies

# Reads change nothing: retried like any provider call, each attempt short.
READ = {"start_to_close_timeout": timedelta(seconds=30), "retry_policy": policies.PROVIDER_RETRY}

# The name a settled payment, refund or payout records its settling under.
RECONCILE_STEP = "reconcile"
