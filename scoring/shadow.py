"""Shadow scoring: a candidate model scores the same requests as the champion, logged, never served.

Before promotion the candidate shadows live traffic for a set period (``SCORING_SHADOW_MODEL_PATH``:
the candidate bundle, e.g. the training pipeline's ``train/model`` output). Every chunk the facade
logs for the champion is also handed to :meth:`ShadowScorer.submit`: a bounded ``deque`` append on
the request path, nothing else. One background thread scores the chunk with the candidate and
writes it, in the inference log's own format (``core.inference_log``), to a separate log directory
(``SCORING_SHADOW_LOG_DIR``, default ``<inference log>/shadow``). The gate (``aml.gate``) joins the
shadow log with the champion's log on ``machine_id`` and event time and compares alert rates,
agreement on open machines and replayed fault signatures.

The path is followed, not read once: the scorer thread checks it every ``poll_interval_s``
(``SCORING_POLL_INTERVAL_S``, as for the champion) and loads the bundle there whenever its
``predmaint.json`` changes, so a pipeline can hand the facade its candidate while it runs (the demo
does before its evaluate step). No bundle there: nothing is shadowed, nothing is counted as dropped.

A full queue drops the chunk and counts its rows (``dropped_rows``): the shadow can lose rows, the
served answer never waits for it. On AzureML the same role is played by mirrored traffic to the
green deployment (``az ml online-endpoint update --mirror-traffic``), whose answers are discarded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

from core.bundle import META_FILE
from core.inference_log import SHADOW_SUBDIR
from core.layout import DataLayout
from scoring.core import Scorer
from scoring.inference_log import InferenceLogWriter, LogChunk
from scoring.settings import ScoringSettings

log = logging.getLogger(__name__)


class ShadowScorer:
    """Scores logged chunks with a candidate, off the request path, into its own inference log."""

    def __init__(
        self,
        candidate: Scorer | None,
        writer: InferenceLogWriter,
        *,
        max_pending: int = 256,
        source: Path | None = None,
        poll_interval_s: float = 10.0,
    ) -> None:
        """``candidate``: the scorer to start with; ``source``: a bundle folder to follow (module
        docstring), checked every ``poll_interval_s``."""
        self.candidate = candidate
        self.writer = writer
        self.max_pending = max_pending
        self.source = source
        self.poll_interval_s = poll_interval_s
        self._seen: tuple[int, int] | None = None
        self._checked = 0.0
        self._pending: deque[LogChunk] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.scored_rows = 0
        self.dropped_rows = 0
        self.errors = 0

    def start(self) -> None:
        self.writer.start()
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._thread.start()

    def submit(self, chunk: LogChunk) -> None:
        """Queue the champion's chunk for the candidate; drop and count it when the queue is full."""
        if self.candidate is None and self.source is not None:
            return  # no candidate to shadow yet
        if len(self._pending) >= self.max_pending:
            self.dropped_rows += chunk.rows
            return
        self._pending.append(chunk)
        self._wake.set()

    def close(self, timeout_s: float = 5.0) -> None:
        """Score what is queued, then stop the thread and flush the writer."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.writer.close()

    def _run(self) -> None:
        while True:
            self.refresh()
            self._wake.wait(0.5)
            self._wake.clear()
            while self._pending:
                self._score(self._pending.popleft())
            if self._stop.is_set():
                return

    def refresh(self, force: bool = False) -> None:
        """Load the bundle at ``source`` when its meta file changed; drop the candidate when it went."""
        now = time.monotonic()
        if self.source is None or (not force and now - self._checked < self.poll_interval_s):
            return
        self._checked = now
        try:
            stat = (self.source / META_FILE).stat()
        except OSError:
            if self.candidate is not None:
                log.info("shadow candidate %s withdrawn from %s", self.candidate.version, self.source)
            self.candidate, self._seen = None, None
            return
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen == self._seen:
            return
        try:
            self.candidate = Scorer.from_path(self.source)
        except Exception:  # a half-written or broken bundle: try again at the next check
            log.exception("shadow candidate at %s could not be loaded", self.source)
            return
        self._seen = seen
        log.info("shadowing candidate %s from %s", self.candidate.version, self.source)

    def _score(self, chunk: LogChunk) -> None:
        candidate = self.candidate
        if candidate is None:
            return
        try:
            scores = candidate.score(chunk.matrix)
        except Exception:  # a broken candidate must not take the champion's log or answers down
            self.errors += 1
            self.dropped_rows += chunk.rows
            log.exception("shadow scoring with %s failed", candidate.version)
            return
        self.writer.submit(
            replace(
                chunk,
                model_version=candidate.version,
                scores=scores,
                threshold=candidate.threshold,
                top_features=None,
            )
        )
        self.scored_rows += chunk.rows


def shadow_scorer(settings: ScoringSettings, layout: DataLayout) -> ShadowScorer | None:
    """The shadow of the bundle at ``settings.shadow_model_path`` (followed, see the module
    docstring), or None when no path is set."""
    if settings.shadow_model_path is None:
        return None
    directory = settings.shadow_log_dir or settings.resolved_log_dir(layout) / SHADOW_SUBDIR
    writer = InferenceLogWriter(
        directory,
        segment_bytes=settings.log_segment_bytes,
        retained_segments=settings.log_retained_segments,
        queue_size=settings.log_queue_size,
    )
    shadow = ShadowScorer(
        None, writer, source=settings.shadow_model_path, poll_interval_s=settings.poll_interval_s
    )
    shadow.refresh(force=True)  # a bundle already there shadows from the first request
    return shadow
