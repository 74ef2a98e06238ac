"""The Temporal Schedules a deployment runs, created by the worker when missing.

They show in the Temporal UI under Schedules, where operators pause, trigger or edit them;
the worker never overwrites one that exists, so an operator's pause survives restarts.
"""

import logging

from temporalio.client import Client
from temporalio.client import Schedule
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.client import ScheduleAlreadyRunningError
from temporalio.client import ScheduleIntervalSpec
from temporalio.client import ScheduleOverlapPolicy
from temporalio.client import SchedulePolicy
from temporalio.client import ScheduleSpec
from temporalio.client import ScheduleState

from schemas.reconciliation import FindUnresolvedCommand
from schemas.runtime.settings import Settings
from workflows.reconciliation.workflow import ReconciliationWorkflow

log = logging.getLogger("paysaga.schedules")

RECONCILIATION_SCHEDULE = "paysaga-reconciliation"


async def ensure_schedules(client: Client, settings: Settings) -> None:
    try:
        await client.create_schedule(
            RECONCILIATION_SCHEDULE,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ReconciliationWorkflow.run,
                    FindUnresolvedCommand(),
                    id="paysaga:reconciliation",
                    task_queue=settings.task_queue,
                ),
                spec=ScheduleSpec(
                    intervals=[ScheduleIntervalSpec(every=settings.reconciliation_every)]
                ),
                # A slow run is never joined by a second one working on the same items.
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
                state=ScheduleState(
                    note="Resolves payments and refunds left requires_attention by asking "
                    "the provider (paysaga)."
                ),
            ),
        )
        log.info("created schedule %s", RECONCILIATION_SCHEDULE)
    except ScheduleAlreadyRunningError:
        pass
