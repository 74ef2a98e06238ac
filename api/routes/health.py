"""Liveness and readiness."""

from fastapi import APIRouter
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy import text

from api.openapi import problems
from api.problems import Problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, str]:
    # Auth off is never silent: the development stack's health check says so too.
    auth = "required" if request.app.state.settings.auth_required else "OFF (development)"
    return {"status": "ok", "auth": auth}


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        connection.rollback()


@router.get("/readyz", responses=problems("not_ready"))
async def readyz(request: Request):
    checks: dict[str, str] = {}
    try:
        # In a thread, and closed before Temporal is asked: a SQLite lock held across an
        # await, or a busy wait on the event loop, would stall every request.
        await run_in_threadpool(_ping_database, request.app.state.engine)
        checks["database"] = "ok"
    except Exception as e:  # readiness reports, it never raises
        checks["database"] = f"error: {type(e).__name__}"
    try:
        client = await request.app.state.temporal.get()
        await client.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as e:
        checks["temporal"] = f"error: {type(e).__name__}"
    if all(value == "ok" for value in checks.values()):
        return {"status": "ok", "checks": checks}
    return Problem("not_ready", checks=checks).response()
