"""Events: every change a merchant hears about, as it was written with the change
(``schemas/store/events.py``); the same bodies webhook endpoints receive."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Query

from api.auth import TenantDep
from api.dependencies import SessionDep
from api.dependencies import run_transaction
from api.openapi import problems
from api.payments import decode_cursor
from api.payments import encode_cursor
from api.problems import Problem
from api.query_parameters import PageSize
from schemas.events import Event
from schemas.events import EventList
from schemas.events import EventTypeFilter
from schemas.identity import EVENT_ID
from schemas.store.events import get_event
from schemas.store.events import page_events

router = APIRouter(prefix="/v1/events", tags=["events"])

EventIdPath = Annotated[str, Path(description="An event id, `evt_…`")]


@router.get("", responses=problems("invalid_cursor"))
async def list_events(
    tenant: TenantDep,
    session: SessionDep,
    event_type: Annotated[
        EventTypeFilter | None,
        Query(alias="type", description="A type (`payment.succeeded`) or family (`refund.*`)"),
    ] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: PageSize = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> EventList:
    """The tenant's events, newest first, a page at a time."""
    events, last = await run_transaction(
        session,
        page_events,
        tenant,
        limit,
        None if cursor is None else decode_cursor(cursor),
        event_type=event_type,
        object_id=object_id,
    )
    next_cursor = None if last is None else encode_cursor(*last)
    return EventList(data=events, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/{event_id}", responses=problems("event_not_found"))
async def get_one_event(tenant: TenantDep, event_id: EventIdPath, session: SessionDep) -> Event:
    found = None
    if EVENT_ID.match(event_id):
        found = await run_transaction(session, get_event, tenant, event_id)
    if found is None:
        raise Problem("event_not_found")
    return found
