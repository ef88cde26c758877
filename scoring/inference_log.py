"""The inference log writer: every scored row appended as JSON Lines, off the request path.

Format and file naming are defined in :mod:`core.inference_log` (the drift sidecar reads them).
A request appends one :class:`LogChunk` (all rows of that request) to a bounded in-memory buffer:
a ``deque`` append, no lock and no thread wake-up on the request path. A single background thread
drains the buffer every ``flush_interval_s``, serialises the chunks, appends them to the newest
segment, starts a new segment when it passes ``segment_bytes`` and deletes the oldest beyond
``retained_segments``. When the buffer is full the chunk is dropped and its rows are counted: a slow
disk or a stalled reader costs a bounded backlog and a counter, never request latency.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import orjson

from core.inference_log import list_segments, segment_name
from scoring.explanations import TopFeature

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogChunk:
    """The rows of one request, as scored."""

    ts: float
    model_version: str
    features: tuple[str, ...]
    matrix: np.ndarray
    scores: np.ndarray
    threshold: float
    machine_ids: tuple[str, ...] | None = None
    event_timestamps: tuple[float | None, ...] | None = None
    top_features: list[list[TopFeature]] | None = None

    @property
    def rows(self) -> int:
        return int(self.scores.shape[0])

    def lines(self) -> bytes:
        """The chunk as JSON Lines in the ``InferenceRecord`` shape."""
        values = self.matrix.astype(np.float64).tolist()
        scores = self.scores.tolist()
        out = []
        for i, score in enumerate(scores):
            record: dict[str, object] = {
                "ts": self.ts,
                "model_version": self.model_version,
                "features": dict(zip(self.features, values[i], strict=True)),
                "anomaly_score": score,
                "is_anomaly": score >= self.threshold,
            }
            if self.machine_ids is not None:
                record["machine_id"] = self.machine_ids[i]
            if self.event_timestamps is not None:
                record["event_timestamp"] = self.event_timestamps[i]
            if self.top_features is not None:
                record["top_features"] = self.top_features[i]
            out.append(orjson.dumps(record))
        return b"\n".join(out) + b"\n"


class InferenceLogWriter:
    """Bounded, non-blocking, size-rotated JSON Lines writer. ``start()`` before use, ``close()`` after."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int,
        retained_segments: int,
        queue_size: int,
        flush_interval_s: float = 0.05,
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.retained_segments = retained_segments
        self.queue_size = queue_size
        self.flush_interval_s = flush_interval_s
        self._pending: deque[LogChunk] = deque()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.dropped_records = 0
        self.written_records = 0
        self.write_errors = 0
        self._thread: threading.Thread | None = None
        self._file: IO[bytes] | None = None
        self._seq = 0
        self._size = 0

    # --- request side -----------------------------------------------------------------------

    def submit(self, chunk: LogChunk) -> bool:
        """Buffer a chunk without blocking. False (and the rows counted as dropped) when full.

        ``deque.append`` is atomic; the size check races benignly (the bound may be passed by the
        number of concurrent submitters, which on one event loop is one)."""
        if len(self._pending) >= self.queue_size:
            with self._lock:
                self.dropped_records += chunk.rows
            return False
        self._pending.append(chunk)
        return True

    @property
    def backlog(self) -> int:
        """Chunks (requests) waiting to be written."""
        return len(self._pending)

    # --- writer side ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="inference-log-writer", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is buffered (up to ``timeout_s``) and stop the writer."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        self._thread = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.flush_interval_s)
            self._drain()
            if stopping:
                return

    def _drain(self) -> None:
        while self._pending:
            batch: list[LogChunk] = []
            while self._pending and len(batch) < 256:
                batch.append(self._pending.popleft())
            try:
                self._write(batch)
            except OSError as exc:  # a full or read-only disk: count, keep serving
                rows = sum(c.rows for c in batch)
                with self._lock:
                    self.write_errors += 1
                    self.dropped_records += rows
                log.warning("inference log write failed (%s); %d records dropped", exc, rows)
                self._file = None

    def _write(self, chunks: list[LogChunk]) -> None:
        for chunk in chunks:
            data = chunk.lines()
            handle = self._segment()
            handle.write(data)
            self._size += len(data)
            with self._lock:
                self.written_records += chunk.rows
        if self._file is not None:
            self._file.flush()

    def _segment(self) -> IO[bytes]:
        """The open segment, rotating when the current one passed the size limit."""
        if self._file is not None and self._size < self.segment_bytes:
            return self._file
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            existing = list_segments(self.directory)
            if existing:
                self._seq, last = existing[-1]
                self._size = last.stat().st_size
                if self._size < self.segment_bytes:
                    self._file = open(last, "ab")  # noqa: SIM115 - kept open across writes
                    return self._file
                self._seq += 1
            else:
                self._seq = 0
        else:
            self._file.close()
            self._seq += 1
        self._file = open(self.directory / segment_name(self._seq), "ab")  # noqa: SIM115
        self._size = 0
        self._prune()
        return self._file

    def _prune(self) -> None:
        segments = list_segments(self.directory)
        for _, path in segments[: max(0, len(segments) - self.retained_segments)]:
            path.unlink(missing_ok=True)
