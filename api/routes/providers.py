"""The configured providers' health: circuit breakers and refused webhooks."""

from datetime import UTC
from datetime import datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from activities.providers.registry import configured_providers
from api.auth import TenantDep
from api.dependencies import EngineDep
from api.dependencies import SettingsDep
from schemas.provider_health import ProviderHealthList
from schemas.store.provider_health import provider_health

router = APIRouter(prefix="/v1/providers", tags=["providers"])


@router.get("/health")
async def get_providers_health(
    settings: SettingsDep,
    engine: EngineDep,
    # Platform-wide, the same for every tenant, but only for callers with a valid key.
    _tenant: TenantDep,
) -> ProviderHealthList:
    # Read from the database, not a worker's cache: the API has no breaker of its own.
    health = await run_in_threadpool(
        provider_health,
        engine,
        configured_providers(settings),
        settings.breaker_open_for,
        datetime.now(UTC),
    )
    return ProviderHealthList(data=health)
