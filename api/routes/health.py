"""Liveness and readiness."""

from fastapi import APIRouter, Request
from sqlalchemy import text

from api.dependencies import SessionDep
from api.problems import problem_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, session: SessionDep):
    checks: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
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
    return problem_response(503, "not_ready", "A dependency is not ready", checks=checks)
