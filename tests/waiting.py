"""Polling with a deadline instead of fixed sleeps: tests wait for an outcome, never for a duration."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_INTERVAL_S = 0.05


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    message: str | Callable[[], str],
    *,
    interval: float = DEFAULT_INTERVAL_S,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` until it returns something truthy and return that value.

    Fails the test (``AssertionError``) after ``timeout`` seconds with ``message`` (a string, or a
    callable evaluated then, e.g. to append a server's log) and the predicate's last value. Exceptions
    of the types in ``ignore`` (a server that does not listen yet) count as a falsy answer.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except ignore as exc:
            value, last = None, exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (not within {timeout:g} s; last: {last!r})")
        time.sleep(interval)
