"""Waiting in a saga for a condition (a signal or an update changed the state) or a deadline."""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow


async def wait_within(condition: Callable[[], object], within: timedelta | None) -> bool:
    """Whether ``condition`` held within ``within`` (None: however long it takes). With no
    time left it is checked once, without starting a timer."""
    if within is not None and within <= timedelta(0):
        return bool(condition())
    try:
        await workflow.wait_condition(condition, timeout=within)
        return True
    except TimeoutError:
        return False
