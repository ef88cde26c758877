"""The facade's view of the Feast online store and the ingest core (both owned by ``features``).

Opening the store imports Feast (several seconds), so it happens in a background thread at start-up;
until it is open the ``machine_id`` path and ``/ingest`` answer 503 with the reason, and inline
scoring is unaffected.

Every store call goes through a :class:`~scoring.store_guard.StoreGuard`: its own small thread pool
(a hung Redis never holds the shared pool), a bounded number of calls in flight, a deadline, and a
circuit that refuses at once while the store is known bad. The Redis client itself has connect and
command timeouts and no retries (:func:`features.store.open_store`). A background thread checks
the store (a Redis ``PING`` with a short timeout) every ``check_interval_s``; readiness reports
that last check and never waits on the store, and a successful check closes the circuit.

Reasons given to clients are short codes (``timeout``, ``connection_refused``, ...), never the
host or the client library's error text; those go to the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.contract import MAX_CLOCK_SKEW
from core.layout import DataLayout
from features.errors import OnlineStoreUnavailable
from scoring.store_guard import GuardRefused, StoreGuard

if TYPE_CHECKING:
    from core.contract import TelemetryBatch

log = logging.getLogger(__name__)

StoreState = Literal["opening", "open", "failed"]


def failure_code(exc: BaseException) -> str:
    """A short, host-free name for why a store call failed."""
    import redis

    if isinstance(exc, redis.exceptions.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return "authentication_failed"
    if isinstance(exc, ConnectionRefusedError) or "refused" in str(exc).lower():
        return "connection_refused"
    if isinstance(exc, redis.exceptions.ConnectionError | ConnectionError | OSError):
        return "connection_error"
    return "error"


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """The last background check: what readiness reports."""

    reachable: bool
    reason: str | None
    checked_at: float | None
    """Unix time of the check; None before the first."""


class OnlineFeatureReader:
    def __init__(
        self,
        layout: DataLayout,
        kind: Literal["sqlite", "redis", "none"],
        redis_url: str | None,
        *,
        timeout_s: float = 0.5,
        max_concurrent: int = 8,
        circuit_open_s: float = 2.0,
        check_interval_s: float = 1.0,
        registry_path: Path | None = None,
        max_clock_skew_s: float | None = None,
    ) -> None:
        """``timeout_s`` bounds a request's wait for the store and the Redis client's socket
        timeouts; ``max_concurrent`` store calls may be in flight; ``circuit_open_s`` is how long
        an open circuit waits for a check before it lets one trial call through."""
        self.layout = layout
        self.kind = kind
        self.redis_url = redis_url
        self.timeout_s = timeout_s
        self.check_interval_s = check_interval_s
        self.registry_path = registry_path
        self.max_clock_skew_s = max_clock_skew_s
        self.state: StoreState = "opening"
        self.error: str | None = None
        self._store: Any = None
        self._ingestor: Any = None
        self._opened = threading.Event()
        self._stop = threading.Event()
        self._checker: threading.Thread | None = None
        self._probe_client: Any = None
        self.health = StoreHealth(False, "not checked yet", None)
        self.guard = StoreGuard(
            "online store",
            max_concurrent=max_concurrent,
            call_timeout_s=timeout_s,
            open_for_s=circuit_open_s,
            is_failure=lambda exc: isinstance(exc, OnlineStoreUnavailable),
        )

    # --- life cycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open the Feast store and the ingestor (blocking; slow on first import of Feast)."""
        try:
            from features.ingest import Ingestor
            from features.store import open_store

            if self.kind == "none":
                raise RuntimeError("no online store configured")
            store = open_store(
                self.layout,
                online=self.kind,
                redis_url=self.redis_url,
                registry_path=self.registry_path,
                redis_timeout_s=self.timeout_s,
            )
            skew_s = self.max_clock_skew_s
            skew = MAX_CLOCK_SKEW if skew_s is None else timedelta(seconds=skew_s)
            self._ingestor = Ingestor(store, self.layout, max_clock_skew=skew)
            self._store = store
            self._record(*self._ping())  # readiness has a check to report as soon as it says "open"
            self.state, self.error = "open", None
        except Exception as exc:  # reported by readiness and by every machine_id request
            self.state, self.error = "failed", type(exc).__name__
            log.warning("online store could not be opened: %s: %s", type(exc).__name__, exc)
        finally:
            self._opened.set()

    def open_in_background(self, on_open: Callable[[], None] | None = None) -> threading.Thread:
        """Open in a thread, then check the store every ``check_interval_s`` until :meth:`close`;
        ``on_open`` runs once the store is open (or failed to open)."""

        def target() -> None:
            self.open()
            if on_open is not None:
                on_open()
            while not self._stop.is_set():
                self.check()
                self._stop.wait(self.check_interval_s)

        thread = threading.Thread(target=target, name="online-store", daemon=True)
        thread.start()
        self._checker = thread
        return thread

    def wait_open(self, timeout_s: float) -> bool:
        return self._opened.wait(timeout_s)

    def close(self, timeout_s: float = 120.0) -> None:
        """Shutdown: stop the background checks, wait for an open still under way (it may be
        replaying the ingest log), then close the ingestor, which checkpoints its open windows and
        queued offline writes (what makes SIGTERM durable)."""
        self._stop.set()
        if self._checker is not None and self._opened.is_set():
            self._checker.join(timeout=self.timeout_s + 1)
        if not self._opened.wait(timeout_s):
            log.warning("online store still opening after %.0f s: ingest state not checkpointed", timeout_s)
        elif self._ingestor is not None:
            self._ingestor.close()
        self.guard.close()
        if self._probe_client is not None:
            self._probe_client.close()

    @property
    def ingestor(self) -> Any:
        """The open ingestor (``features.ingest.Ingestor``), or None before the store is open."""
        return self._ingestor

    # --- reads ---------------------------------------------------------------------------------

    def _require_store(self) -> Any:
        if self.state == "opening":
            raise OnlineStoreUnavailable(
                "online store is still opening", {"store": self.kind, "reason": "opening"}
            )
        if self._store is None:
            raise OnlineStoreUnavailable(
                "online store could not be opened", {"store": self.kind, "reason": "open_failed"}
            )
        return self._store

    async def read(self, machine_ids: Sequence[str], now: datetime) -> list[Any]:
        """``features.store.read_online`` for these machines, guarded; OnlineStoreUnavailable (503
        with ``detail.reason``) when the store fails, is known bad, is busy or is too slow."""
        self._require_store()
        found: list[Any] = await self._guarded(self._read, list(machine_ids), now)
        return found

    async def ingest(self, batch: TelemetryBatch) -> Any:
        """``Ingestor.ingest``, guarded like :meth:`read`."""
        self._require_store()
        return await self._guarded(self._ingest, batch)

    async def _guarded(self, fn: Callable[..., Any], *args: object) -> Any:
        try:
            return await self.guard.call(fn, *args)
        except GuardRefused as exc:
            detail = {"store": self.kind, "reason": exc.reason, "last_failure": exc.cause}
            cause = f" (last failure: {exc.cause})" if exc.cause else ""
            raise OnlineStoreUnavailable(
                f"online store unavailable: {exc}{cause}", detail, retry_after_s=1
            ) from None

    def _read(self, machine_ids: list[str], now: datetime) -> list[Any]:
        from features.errors import FeaturesError
        from features.store import read_online

        try:
            return list(read_online(self._store, machine_ids, now))
        except FeaturesError as exc:
            if exc.status != 503:  # e.g. StoreNotApplied (409): answered as the features slice says
                raise
            raise self._unavailable(exc) from exc
        except Exception as exc:  # connection refused, timeout, auth
            raise self._unavailable(exc) from exc

    def _ingest(self, batch: TelemetryBatch) -> Any:
        from feast.errors import FeatureViewNotFoundException, PushSourceNotFoundException

        from features.errors import FeaturesError, StoreNotApplied

        try:
            return self._ingestor.ingest(batch)
        except (PushSourceNotFoundException, FeatureViewNotFoundException) as exc:
            # the push path does not translate this itself (the read path does): same answer, 409
            raise StoreNotApplied(str(self._store.config.registry.path)) from exc
        except FeaturesError as exc:
            if exc.status != 503:
                raise
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> OnlineStoreUnavailable:
        code = failure_code(_root_cause(exc))
        log.warning("online store call failed (%s): %s", code, exc)
        self.health = StoreHealth(False, code, time.time())
        return OnlineStoreUnavailable(
            f"online store unreachable ({code})", {"store": self.kind, "reason": code}, retry_after_s=1
        )

    # --- health --------------------------------------------------------------------------------

    def check(self) -> StoreHealth:
        """Check the store now (blocking, bounded by ``timeout_s``) and record it. Called by the
        background thread; requests and readiness read :attr:`health` instead."""
        if self.state != "open":
            reason = "opening" if self.state == "opening" else "open_failed"
            self.health = StoreHealth(False, reason, time.time())
            return self.health
        return self._record(*self._ping())

    def _record(self, reachable: bool, reason: str | None) -> StoreHealth:
        self.health = StoreHealth(reachable, reason, time.time())
        self.guard.record_check(reachable, reason)
        return self.health

    def _ping(self) -> tuple[bool, str | None]:
        """Redis: a ``PING`` on a client of its own with the short timeouts; other stores: True."""
        if self.kind != "redis":
            return True, None
        try:
            if self._probe_client is None:
                import redis

                self._probe_client = redis.Redis.from_url(
                    str(self.redis_url),
                    socket_timeout=self.timeout_s,
                    socket_connect_timeout=self.timeout_s,
                    retry=None,
                )
            self._probe_client.ping()
        except Exception as exc:
            return False, failure_code(exc)
        return True, None
