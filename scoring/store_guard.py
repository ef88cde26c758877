"""A bulkhead and a circuit breaker around one blocking dependency (the online store).

- **Bulkhead**: calls run on the guard's own small thread pool, never on the event loop's shared
  one, and at most ``max_concurrent`` may be in flight (a hung call counts until its thread is
  free). Beyond that a call is refused at once (``busy``) instead of queueing behind the hung ones.
- **Deadline**: the caller waits at most ``call_timeout_s``; the thread may run on until the
  client's own socket timeout frees it (it is still counted in flight).
- **Circuit**: a failed or timed-out call opens the circuit; while open every call is refused at
  once (``circuit_open``) with the reason of the failure. It closes when a health check succeeds
  (:meth:`StoreGuard.record_check`, fed by the background checker) or, without one, after
  ``open_for_s`` when a single trial call succeeds (half-open).

Refusals raise :class:`GuardRefused` with a short reason code; the caller turns it into its own
domain error (503 with the reason).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

T = TypeVar("T")

CircuitState = Literal["closed", "open", "half_open"]


class GuardRefused(Exception):
    """The guard did not (or no longer) wait for the call: ``reason`` is ``busy``,
    ``circuit_open`` or ``timeout``; ``cause`` is the last failure seen, if any."""

    def __init__(self, reason: str, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.cause = cause


class StoreGuard:
    """Bulkhead + deadline + circuit for calls of one dependency; thread-safe."""

    def __init__(
        self,
        name: str,
        *,
        max_concurrent: int,
        call_timeout_s: float,
        open_for_s: float,
        is_failure: Callable[[BaseException], bool] = lambda _exc: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.name = name
        self.max_concurrent = max_concurrent
        self.call_timeout_s = call_timeout_s
        self.open_for_s = open_for_s
        self.is_failure = is_failure
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix=f"{name}-call")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._state: CircuitState = "closed"
        self._opened_at = 0.0
        self._trial_running = False
        self.last_failure: str | None = None
        self.refused: dict[str, int] = {"busy": 0, "circuit_open": 0, "timeout": 0}

    # --- state ------------------------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        return self._state

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def trip(self, cause: str) -> None:
        """Open the circuit (a call or a health check failed)."""
        with self._lock:
            self._state = "open"
            self._opened_at = self._clock()
            self._trial_running = False
            self.last_failure = cause

    def record_check(self, healthy: bool, cause: str | None = None) -> None:
        """A health check's outcome: success closes an open circuit, failure opens it."""
        if healthy:
            with self._lock:
                self._state = "closed"
                self._trial_running = False
        else:
            self.trip(cause or "health check failed")

    def _admit(self) -> bool:
        """Reserve a slot or raise; True when this call is the half-open trial."""
        with self._lock:
            trial = False
            if self._state != "closed":
                due = self._clock() - self._opened_at >= self.open_for_s
                if self._trial_running or not due:
                    self.refused["circuit_open"] += 1
                    raise GuardRefused(
                        "circuit_open",
                        f"{self.name} is failing; not calling it until a check succeeds",
                        self.last_failure,
                    )
                self._state, self._trial_running, trial = "half_open", True, True
            if self._in_flight >= self.max_concurrent:
                if trial:
                    self._state, self._trial_running = "open", False
                self.refused["busy"] += 1
                raise GuardRefused(
                    "busy", f"{self.max_concurrent} {self.name} calls already in flight", self.last_failure
                )
            self._in_flight += 1
            return trial

    def _release(self, _future: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1

    def _settle(self, trial: bool, failure: str | None) -> None:
        if failure is not None:
            self.trip(failure)
        elif trial:
            self.record_check(True)

    # --- calls ------------------------------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` on the guard's pool, waiting at most ``call_timeout_s``."""
        trial = self._admit()
        future = self._pool.submit(fn, *args)
        future.add_done_callback(self._release)
        try:
            result = await asyncio.wait_for(asyncio.wrap_future(future), self.call_timeout_s)
        except TimeoutError:
            cause = f"no answer within {self.call_timeout_s:g} s"
            self._settle(trial, cause)
            with self._lock:
                self.refused["timeout"] += 1
            raise GuardRefused("timeout", f"{self.name} did not answer in time", cause) from None
        except Exception as exc:
            self._settle(trial, type(exc).__name__ if self.is_failure(exc) else None)
            raise
        self._settle(trial, None)
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
