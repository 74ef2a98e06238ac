"""Settlement contracts: what a refund or payout saga hears from its provider after it ended.

A provider may fail a refund or a payout it had accepted (the card issuer or the bank
returns the money days later) and reports a payout's arrival at the bank: each such event
starts (or signals) one ``SettlementWorkflow`` per refund or payout, which asks the provider
before it changes anything.
"""

from typing import Literal

from pydantic import BaseModel

SettlementSubject = Literal["refund", "payout"]


class SettlementInput(BaseModel):
    tenant_id: str
    subject: SettlementSubject
    subject_id: str  # our refund (``re_…``) or payout (``po_…``) id
    provider: str


class RecordedCommand(BaseModel):
    """Read a refund's or payout's state as the read model last stored it."""

    tenant_id: str
    subject_id: str
