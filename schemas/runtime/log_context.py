"""Which tenant and payment a log line is about.

The API names them as it learns them (``bind_log_context`` once the caller is authenticated
and the payment id is known); in the worker they come from the Temporal workflow id,
``{tenant}:{kind}:{id}`` (DESIGN §6), which ``workflow.logger`` and ``activity.logger``
attach to their records and which any other logger inside an activity can look up.
"""

import logging
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from temporalio import activity

from schemas.identity import PAYMENT_KIND

_tenant_id: ContextVar[str | None] = ContextVar("log_tenant_id", default=None)
_payment_id: ContextVar[str | None] = ContextVar("log_payment_id", default=None)


@contextmanager
def log_context(*, tenant_id: str | None = None, payment_id: str | None = None) -> Iterator[None]:
    """Log lines written inside carry these ids; the previous ones come back on exit."""
    tenant_token = _tenant_id.set(tenant_id)
    payment_token = _payment_id.set(payment_id)
    try:
        yield
    finally:
        _payment_id.reset(payment_token)
        _tenant_id.reset(tenant_token)


def bind_log_context(*, tenant_id: str | None = None, payment_id: str | None = None) -> None:
    """Name the tenant or payment for the rest of the current context (a request: the API
    opens a fresh ``log_context`` around each one). ``None`` leaves a value as it is."""
    if tenant_id is not None:
        _tenant_id.set(tenant_id)
    if payment_id is not None:
        _payment_id.set(payment_id)


def ids_from_workflow_id(workflow_id: str | None) -> tuple[str | None, str | None]:
    """(tenant, payment id) of ``{tenant}:{kind}:{id}``; the payment id only for payments."""
    if not workflow_id:
        return None, None
    parts = workflow_id.split(":", 2)
    if len(parts) != 3:  # not one of ours (e.g. the reconciliation schedule's runs)
        return None, None
    tenant, kind, resource_id = parts
    return tenant, resource_id if kind == PAYMENT_KIND else None


def _temporal_workflow_id(record: logging.LogRecord) -> str | None:
    for extra in ("temporal_activity", "temporal_workflow"):
        details = getattr(record, extra, None)
        if isinstance(details, Mapping) and details.get("workflow_id"):
            return str(details["workflow_id"])
    # Any other logger (a provider adapter, httpx) called from an activity's code.
    if activity.in_activity():
        return activity.info().workflow_id
    return None


def current_ids(record: logging.LogRecord) -> tuple[str | None, str | None]:
    """(tenant id, payment id) for ``record``: those of the Temporal workflow it was written
    for, else those the current context was told."""
    workflow_id = _temporal_workflow_id(record)
    if workflow_id is not None:
        return ids_from_workflow_id(workflow_id)
    return _tenant_id.get(), _payment_id.get()
