"""An in-process worker with the real activities, for workflow tests.

Always sandboxed, whatever the worker's default: the sandbox's determinism checks run on
every workflow the tests drive.
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from sqlalchemy import Engine
from temporalio.client import Client

from activities.providers.registry import build_providers
from activities.webhooks.sender import WebhookSender
from schemas.runtime.settings import Settings
from workers.worker.build import build_worker


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, engine: Engine):
    providers = build_providers(settings)
    webhook_sender = WebhookSender()
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = build_worker(
            client,
            settings,
            engine,
            providers,
            executor,
            webhook_sender,
            sandboxed=True,
        )
        async with worker:
            yield
    for provider in providers.values():
        await provider.aclose()
    await webhook_sender.aclose()
