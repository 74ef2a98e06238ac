"""Ledger balances, derived from postings."""

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import TenantDep
from api.dependencies import SessionDep
from schemas.store.ledger_reports import AccountBalance
from schemas.store.ledger_reports import balances

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


class BalancesResponse(BaseModel):
    data: list[AccountBalance]


@router.get("/balances")
def get_balances(session: SessionDep, tenant: TenantDep) -> BalancesResponse:
    return BalancesResponse(data=balances(session, tenant))
