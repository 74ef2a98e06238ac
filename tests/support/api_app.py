"""The API app run in the test's own process (its lifespan, no server) and called over ASGI,
for tests that need the real app but not the whole stack."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine

from api.app import create_app
from schemas.runtime.settings import Settings


def settings_without_temporal(engine: Engine, **overrides: Any) -> Settings:
    """The test's database, a Temporal address nothing answers on (the API connects lazily,
    so routes that never reach Temporal work), and only the sandbox configured, whatever the
    environment says."""
    values = {
        "database_url": engine.url.render_as_string(hide_password=False),
        "temporal_address": "127.0.0.1:1",
        "stripe_api_key": None,
        "paypal_client_id": None,
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app, between its startup and its shutdown."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def asgi_client(
    app: FastAPI, base_url: str = "http://paysaga", **options: Any
) -> httpx.AsyncClient:
    """A client calling ``app`` in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, **options)


@asynccontextmanager
async def app_client(settings: Settings, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app running with ``settings``; ``options`` as ``asgi_client``'s."""
    async with running_app(settings) as app, asgi_client(app, **options) as client:
        yield client
