"""Waiting in a test for something another process does, with a deadline."""

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def until(read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 30) -> Any:
    """``read()`` (a value or an awaitable) again every 0.1 s until ``done`` holds for it;
    answers it. Fails the test with the last value read after ``seconds``."""
    last = None
    try:
        async with asyncio.timeout(seconds):
            while True:
                last = read()
                if inspect.isawaitable(last):
                    last = await last
                if done(last):
                    return last
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not done within {seconds} s; last read: {last!r}") from None
