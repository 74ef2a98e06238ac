"""What a workflow's history shows of how its steps ran: the activities it scheduled on the
task queue, the local activities it ran in its workflow tasks, its workflow tasks."""

import json

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory


def scheduled_activities(history: WorkflowHistory) -> list[str]:
    """The activity types of its ``ActivityTaskScheduled`` events, in order."""
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def local_activities(history: WorkflowHistory) -> list[str]:
    """The activity types of its local-activity markers, in order. The SDK core writes the
    marker's data as plain JSON of its own (never through the payload codec)."""
    return [
        json.loads(event.marker_recorded_event_attributes.details["data"].payloads[0].data)[
            "activity_type"
        ]
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]


def completed_workflow_tasks(history: WorkflowHistory) -> int:
    return sum(
        event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for event in history.events
    )
