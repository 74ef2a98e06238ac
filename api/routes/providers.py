"""The configured providers' health: circuit breakers and refused webhooks."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from activities.circuit_breaker import CircuitBreaker
from activities.providers.registry import configured_providers
from api.auth import TenantDep
from api.dependencies import EngineDep, SettingsDep
from schemas.provider_health import ProviderHealthList

router = APIRouter(prefix="/v1/providers", tags=["providers"])


@router.get("/health")
async def get_providers_health(
    settings: SettingsDep,
    engine: EngineDep,
    # Platform-wide, the same for every tenant, but only for callers with a valid key.
    _tenant: TenantDep,
) -> ProviderHealthList:
    # Read from the database, not a worker's cache: the API has no breaker of its own.
    breaker = CircuitBreaker.from_settings(engine, settings)
    health = await run_in_threadpool(breaker.snapshot, configured_providers(settings))
    return ProviderHealthList(data=health)
