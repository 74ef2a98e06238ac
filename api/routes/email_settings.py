"""A tenant's email settings (who its receipts and notices are from, which it sends) and the
emails its events made (``workflows/email_delivery``)."""

from datetime import UTC
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from fastapi import Query

from api.auth import TenantDep
from api.dependencies import SessionDep
from api.dependencies import run_transaction
from api.openapi import problems
from api.problems import Problem
from schemas.email import EmailSettings
from schemas.email import EmailSettingsRequest
from schemas.email import OutgoingEmailList
from schemas.store import emails as store

router = APIRouter(tags=["emails"])

EventIdQuery = Annotated[
    str, Query(pattern=r"^evt_[0-9a-f]{24}$", description="An event id, `evt_…`")
]


@router.put("/v1/email-settings")
async def put_email_settings(
    tenant: TenantDep, body: EmailSettingsRequest, session: SessionDep
) -> EmailSettings:
    """Replace the tenant's email settings (the first PUT turns emails on). Only the kinds
    in `enabled_kinds` are sent; `notification_address` receives the tenant's own notices."""
    return await run_transaction(session, store.put_settings, tenant, body, datetime.now(UTC))


@router.get("/v1/email-settings", responses=problems("email_settings_not_found"))
async def get_email_settings(tenant: TenantDep, session: SessionDep) -> EmailSettings:
    found = await run_transaction(session, store.get_settings, tenant)
    if found is None:
        raise Problem("email_settings_not_found", "No email settings: PUT them to send emails")
    return found


@router.get("/v1/emails")
async def list_emails(
    tenant: TenantDep, session: SessionDep, event_id: EventIdQuery
) -> OutgoingEmailList:
    """The emails an event made, with where each got to (`pending`, `sent`, `failed`,
    `skipped`)."""
    return OutgoingEmailList(
        data=await run_transaction(session, store.messages_of_event, tenant, event_id)
    )
