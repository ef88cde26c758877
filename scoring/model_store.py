"""Model lifecycle: load the serving model, watch the registry's champion, swap atomically.

The store holds one reference to an immutable :class:`~scoring.core.Scorer`. A request reads
``store.current`` once and uses that scorer for every row it scores, so it can never mix versions.
The watcher thread prepares a new scorer completely (download, session, warm-up run) before the swap,
which is a single reference assignment; requests in flight keep the old scorer until they finish.

Sources (``core.bundle_source``, shared with the drift sidecar):

- ``PathSource``: one bundle directory, loaded once (``SCORING_MODEL_PATH``).
- ``RegistrySource``: the champion of an MLflow registry via ``core.registry`` (``champion_version``
  is cheap and polled; ``download_version`` fetches a version's bundle).

``source_state`` and ``last_error`` keep what the last poll found (readiness reports both): no
champion yet, registry unreachable or misconfigured, or a version that would not load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.bundle_source import BundleSource as ModelSource
from core.bundle_source import SourceState, no_champion_reason, state_of
from scoring.core import Scorer

log = logging.getLogger(__name__)


class ModelStore:
    """Holds the serving scorer; optionally watches the source and swaps in new versions."""

    def __init__(
        self,
        source: ModelSource,
        *,
        poll_interval_s: float,
        on_swap: Callable[[Scorer], None] | None = None,
    ) -> None:
        self.source = source
        self.poll_interval_s = poll_interval_s
        self._on_swap = on_swap
        self._current: Scorer | None = None
        self._source_version: str | None = None
        self.last_error: str | None = "not loaded yet"
        self.source_state: SourceState = "not_checked"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refresh_lock = threading.Lock()

    @property
    def current(self) -> Scorer | None:
        """The serving scorer. Read it once per request."""
        return self._current

    def refresh(self) -> bool:
        """Check the source once; load and swap when its version changed. True when swapped.

        Errors are kept in ``last_error`` (reported by readiness) and the old model keeps serving.
        """
        with self._refresh_lock:
            try:
                version = self.source.current_version()
                if version is None:
                    self.source_state = "no_champion"
                    if self._current is None:
                        self.last_error = no_champion_reason(self.source)
                    return False
                if version == self._source_version and self._current is not None:
                    self.source_state, self.last_error = "ok", None
                    return False
                bundle, served_as = self.source.fetch(version)
                scorer = Scorer.from_bundle(bundle, version=served_as, source=self.source.description)
            except Exception as exc:  # any failure to load keeps the previous model serving
                self.source_state = state_of(exc)
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model refresh from %s failed: %s", self.source.description, self.last_error)
                return False
            previous = self._current
            self._current = scorer  # the swap: one reference assignment
            self._source_version = version
            self.last_error = None
            self.source_state = "ok"
            log.info(
                "serving model %s (was %s) from %s",
                scorer.version,
                previous.version if previous else None,
                self.source.description,
            )
            if self._on_swap is not None:
                self._on_swap(scorer)
            return True

    def start(self) -> None:
        """Load now (in the caller's thread), then watch in the background when the source allows."""
        self.refresh()
        # a path that failed to load is retried too: the bundle may be copied in after start-up
        if (self.source.watchable or self._current is None) and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
            self._thread.start()

    def start_in_background(self) -> None:
        """Like :meth:`start` but the first load also happens in the watcher thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._watch, args=(True,), name="model-watcher", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _watch(self, load_first: bool = False) -> None:
        if load_first:
            self.refresh()
            if not self.source.watchable and self._current is not None:
                return
        while not self._stop.wait(self.poll_interval_s):
            if self.source.watchable or self._current is None:
                self.refresh()
            else:
                return
