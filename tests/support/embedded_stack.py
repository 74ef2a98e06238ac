"""The embedded stack as the end-to-end test packages run it (``tests/e2e``,
``tests/providers``): each package's conftest starts its own ``stack`` with
``running_stack`` and imports from here the fixtures of its database and of its API.
"""

from collections.abc import AsyncIterator
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from schemas.store.database import make_engine
from tests.support.ledger import assert_ledger_invariants
from tests.support.response_scan import RESPONSE_HOOKS
from workers.stack import EmbeddedStack
from workers.stack import free_stack_ports


def running_stack(
    data_dir: Path, risk_model_dir: Path, extra_env: dict[str, str]
) -> Iterator[EmbeddedStack]:
    """Every child on free ports, quiet, until the fixture that yields from this ends."""
    stack = EmbeddedStack(
        data_dir=data_dir,
        risk_model_dir=risk_model_dir,
        **free_stack_ports(),
        quiet=True,
        extra_env=dict(extra_env),
    )
    # The buyer's browser comes back from PayPal to this stack's own API, not to :8000.
    for route in ("return", "cancel"):
        stack.extra_env.setdefault(
            f"PAYSAGA_PAYPAL_{route.upper()}_URL", f"{stack.api_url}/paypal/{route}"
        )
    with stack:
        yield stack


def api_client(stack: EmbeddedStack, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A client of the stack's API; every answer is checked to show no secret or card number."""
    return httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, headers=headers, event_hooks=RESPONSE_HOOKS
    )


@pytest.fixture(scope="package")
def stack_db(stack: EmbeddedStack) -> Iterator[Engine]:
    """The stack's own database, for what a test checks behind the API."""
    engine = make_engine(stack.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
async def api(stack: EmbeddedStack, stack_db: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the development tenant's key; the ledger invariants hold afterwards."""
    async with api_client(stack, stack.api_headers) as client:
        yield client
    assert_ledger_invariants(stack_db)
