"""Connected accounts are made at their provider: created there (its id and standing stored
with ours), onboarded on the provider's own pages, and kept in step with what the provider
says of them (its ``account.updated`` webhook, or a refresh that asks it)."""

from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlmodel import Session

from activities.providers.base import PaymentProvider
from api.dependencies import run_transaction
from api.problems import Problem
from api.provider_answers import adapter_of
from api.provider_answers import provider_answer
from schemas.payouts import ConnectedAccount
from schemas.payouts import OnboardingLinkRequest
from schemas.provider import AccountCommand
from schemas.provider import OnboardingLink
from schemas.provider import OnboardingLinkCommand
from schemas.provider import ProviderAccount
from schemas.provider_events import ProviderEvent
from schemas.store import records


async def made_at_provider(
    adapter: PaymentProvider, tenant: str, account_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """The account's columns once the provider has made it. Its key comes from our id, so a
    retry of the request (same Idempotency-Key, same id) finds the same provider account."""
    command = AccountCommand(
        account_id=account_id,
        tenant_id=tenant,
        name=fields["name"],
        bank_account=fields["bank_account"],
        idempotency_key=f"{account_id}:create_account",
    )
    made = await provider_answer(adapter.create_account(command))
    return fields | records.standing_fields(made)


async def refresh(
    session: Session, providers: dict[str, PaymentProvider], account: ConnectedAccount
) -> ConnectedAccount:
    """Ask the provider how the account stands and store it (when its webhook went astray,
    or the provider sends none, as the sandbox)."""
    reference = _at_provider(account)
    standing = await provider_answer(
        adapter_of(providers, account.provider).retrieve_account(reference)
    )
    stored = await run_transaction(
        session, records.update_standing, account.tenant_id, account.account_id, standing
    )
    return stored or account


async def onboarding_link(
    providers: dict[str, PaymentProvider], account: ConnectedAccount, body: OnboardingLinkRequest
) -> OnboardingLink:
    command = OnboardingLinkCommand(
        reference=_at_provider(account),
        refresh_url=str(body.refresh_url),
        return_url=str(body.return_url),
    )
    return await provider_answer(adapter_of(providers, account.provider).onboarding_link(command))


async def account_updated(
    engine: Engine, adapter: PaymentProvider, event: ProviderEvent
) -> ProviderAccount | None:
    """The standing of the account the event is about, as the provider says it now (the
    event is only a hint: a late or repeated one stores the truth of now, never its own);
    None when no connected account of ours is that provider account."""
    if not event.object_reference:
        return None
    account = await run_in_threadpool(
        _in_transaction, engine, records.account_at_provider, event.provider, event.object_reference
    )
    if account is None:
        return None
    standing = await provider_answer(adapter.retrieve_account(event.object_reference))
    await run_in_threadpool(
        _in_transaction,
        engine,
        records.update_standing,
        account.tenant_id,
        account.account_id,
        standing,
    )
    return standing


def _in_transaction(engine: Engine, work, *args):
    with engine.begin() as connection:
        return work(connection, *args)


def _at_provider(account: ConnectedAccount) -> str:
    if account.provider_account_id is None:
        raise Problem(
            "invalid_state",
            f"{account.account_id} was made before accounts were made at the provider: "
            "there is nothing to onboard",
        )
    return account.provider_account_id
