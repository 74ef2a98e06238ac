"""Prefixed opaque ids and the workflow id scheme ``{tenant}:{kind}:{id}``."""

import re
import uuid

PAYMENT_ID = re.compile(r"^pay_[0-9a-f]{24}$")


def new_payment_id() -> str:
    return f"pay_{uuid.uuid4().hex[:24]}"


def payment_workflow_id(tenant_id: str, payment_id: str) -> str:
    return f"{tenant_id}:payment:{payment_id}"
