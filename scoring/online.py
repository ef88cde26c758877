"""The facade's view of the Feast online store and the ingest core (both owned by ``features``).

Opening the store imports Feast (several seconds), so it happens in a background thread at start-up;
until it is open the ``machine_id`` path and ``/ingest`` answer 503 with the reason, and inline
scoring is unaffected. Reachability is probed separately (a Redis ``PING`` with a short timeout) for
readiness; a failed read is reported the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.contract import MAX_CLOCK_SKEW
from core.layout import DataLayout
from scoring.errors import OnlineStoreUnavailable

if TYPE_CHECKING:
    from core.contract import TelemetryBatch

log = logging.getLogger(__name__)

StoreState = Literal["opening", "open", "failed"]


class OnlineFeatureReader:
    def __init__(
        self,
        layout: DataLayout,
        kind: Literal["sqlite", "redis", "none"],
        redis_url: str | None,
        *,
        probe_timeout_s: float = 0.5,
        registry_path: Path | None = None,
        max_clock_skew_s: float | None = None,
    ) -> None:
        self.layout = layout
        self.kind = kind
        self.redis_url = redis_url
        self.probe_timeout_s = probe_timeout_s
        self.registry_path = registry_path
        self.max_clock_skew_s = max_clock_skew_s
        self.state: StoreState = "opening"
        self.error: str | None = None
        self._store: Any = None
        self._ingestor: Any = None
        self._opened = threading.Event()
        self._probe_client: Any = None
        self._probe_cache: tuple[float, bool, str | None] = (0.0, False, "not probed")
        self._down_reason: str | None = None

    # --- life cycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open the Feast store and the ingestor (blocking; slow on first import of Feast)."""
        try:
            from features.ingest import Ingestor
            from features.store import open_store

            if self.kind == "none":
                raise RuntimeError("no online store configured")
            store = open_store(
                self.layout, online=self.kind, redis_url=self.redis_url, registry_path=self.registry_path
            )
            skew_s = self.max_clock_skew_s
            skew = MAX_CLOCK_SKEW if skew_s is None else timedelta(seconds=skew_s)
            self._ingestor = Ingestor(store, self.layout, max_clock_skew=skew)
            self._store = store
            self.state, self.error = "open", None
        except Exception as exc:  # reported by readiness and by every machine_id request
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("online store could not be opened: %s", self.error)
        finally:
            self._opened.set()

    def open_in_background(self, on_open: Callable[[], None] | None = None) -> threading.Thread:
        """Open in a thread; ``on_open`` runs after it (opened or failed)."""

        def target() -> None:
            self.open()
            if on_open is not None:
                on_open()

        thread = threading.Thread(target=target, name="online-store-open", daemon=True)
        thread.start()
        return thread

    def wait_open(self, timeout_s: float) -> bool:
        return self._opened.wait(timeout_s)

    def close(self, timeout_s: float = 120.0) -> None:
        """Shutdown: wait for an open still under way (it may be replaying the ingest log), then
        close the ingestor, which checkpoints its open windows and queued offline writes."""
        if not self._opened.wait(timeout_s):
            log.warning("online store still opening after %.0f s: ingest state not checkpointed", timeout_s)
            return
        if self._ingestor is not None:
            self._ingestor.close()

    @property
    def ingestor(self) -> Any:
        """The open ingestor (``features.ingest.Ingestor``), or None before the store is open."""
        return self._ingestor

    # --- reads ---------------------------------------------------------------------------------

    def _require_store(self) -> Any:
        if self.state == "opening":
            raise OnlineStoreUnavailable("online store is still opening", {"store": self.kind})
        if self._store is None:
            raise OnlineStoreUnavailable(
                f"online store could not be opened: {self.error}", {"store": self.kind}
            )
        return self._store

    def read(self, machine_ids: Sequence[str], now: datetime) -> list[Any]:
        """``features.store.read_online`` for these machines; OnlineStoreUnavailable on any failure."""
        store = self._require_store()
        self._fail_fast()
        from features.errors import FeaturesError
        from features.store import read_online

        try:
            return list(read_online(store, list(machine_ids), now))
        except FeaturesError as exc:
            if exc.status_code != 503:  # e.g. StoreNotApplied (409): answered as the features slice says
                raise
            reason = str(exc)
            self._mark_down(reason)
            raise OnlineStoreUnavailable(reason, {"store": self.kind, "hint": exc.hint}) from exc
        except Exception as exc:  # connection refused, timeout, auth: the reason goes to the client
            reason = f"{type(exc).__name__}: {exc}"
            self._mark_down(reason)
            raise OnlineStoreUnavailable(f"online store unreachable: {reason}", {"store": self.kind}) from exc

    def _mark_down(self, reason: str) -> None:
        self._down_reason = reason
        self._probe_cache = (time.monotonic(), False, reason)

    def _fail_fast(self) -> None:
        """After a failed call, answer at once while a cheap probe still fails: the Feast Redis
        client retries with back-off for seconds, which no request should wait for again."""
        if self._down_reason is None:
            return
        reachable, reason = self.probe()
        if not reachable:
            raise OnlineStoreUnavailable(
                f"online store unreachable: {reason or self._down_reason}", {"store": self.kind}
            )
        self._down_reason = None

    def ingest(self, batch: TelemetryBatch) -> Any:
        """``Ingestor.ingest``; OnlineStoreUnavailable when the push cannot reach the store."""
        store = self._require_store()  # before importing Feast: the opening thread may hold its import
        from feast.errors import FeatureViewNotFoundException, PushSourceNotFoundException

        from features.errors import FeaturesError, StoreNotApplied

        self._fail_fast()
        try:
            return self._ingestor.ingest(batch)
        except (PushSourceNotFoundException, FeatureViewNotFoundException) as exc:
            # the push path does not translate this itself (the read path does): same answer, 409
            raise StoreNotApplied(str(store.config.registry.path)) from exc
        except FeaturesError as exc:
            if exc.status_code != 503:
                raise
            self._mark_down(str(exc))
            raise OnlineStoreUnavailable(str(exc), {"store": self.kind, "hint": exc.hint}) from exc

    # --- readiness -----------------------------------------------------------------------------

    def probe(self) -> tuple[bool, str | None]:
        """(reachable, reason). Redis: a PING with a short timeout, cached for one second."""
        if self.state != "open":
            return False, self.error or "online store is still opening"
        if self.kind != "redis":
            return True, None
        stamp, ok, reason = self._probe_cache
        if time.monotonic() - stamp < 1.0:
            return ok, reason
        try:
            if self._probe_client is None:
                import redis

                self._probe_client = redis.Redis.from_url(
                    str(self.redis_url),
                    socket_timeout=self.probe_timeout_s,
                    socket_connect_timeout=self.probe_timeout_s,
                    retry=None,
                )
            self._probe_client.ping()
            ok, reason = True, None
        except Exception as exc:
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        self._probe_cache = (time.monotonic(), ok, reason)
        return ok, reason
