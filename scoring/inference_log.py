"""The inference log writer: every scored row appended as JSON Lines, off the request path.

Format and file naming are defined in :mod:`core.inference_log` (the drift sidecar reads them).
A request appends one :class:`LogChunk` (all rows of that request) to a bounded in-memory buffer:
a ``deque`` append, no lock and no thread wake-up on the request path. A single background thread
drains the buffer every ``flush_interval_s``, serialises the chunks, appends them to the newest
segment, starts a new segment when it passes ``segment_bytes`` and deletes the oldest beyond
``retained_segments``. When the buffer is full the chunk is dropped and its rows are counted: a slow
disk or a stalled reader costs a bounded backlog and a counter, never request latency.

Accounting: every row gets the next ``seq`` (see :mod:`core.inference_log`) when it is submitted,
kept or not, so a reader sees every loss (queue full, full disk, retention) as a gap. A batch is
written with unbuffered ``write`` calls and counted written only once they all succeeded; a failed
write is cut back off the file (``ftruncate``), so no partial line is left behind, and its rows are
counted dropped: ``written + dropped`` is exactly the rows submitted once the buffer is drained.
At start the writer continues the sequence from the newest segment's last line (and cuts off a
fragment a crash left there).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import orjson

from core.inference_log import last_seq, list_segments, segment_name
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

    def lines(self, first_seq: int) -> bytes:
        """The chunk as JSON Lines in the ``InferenceRecord`` shape, rows numbered from ``first_seq``."""
        values = self.matrix.astype(np.float64).tolist()
        scores = self.scores.tolist()
        out = []
        for i, score in enumerate(scores):
            record: dict[str, object] = {
                "seq": first_seq + i,
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
        self._pending: deque[tuple[int, LogChunk]] = deque()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.dropped_records = 0
        self.written_records = 0
        self.write_errors = 0
        self.submitted_records = 0
        self._next_seq = 0
        self._thread: threading.Thread | None = None
        self._file: IO[bytes] | None = None
        self._seq = 0
        self._size = 0

    # --- request side -----------------------------------------------------------------------

    def submit(self, chunk: LogChunk) -> bool:
        """Buffer a chunk without blocking. False (and the rows counted as dropped) when full.

        ``deque.append`` is atomic; the size check races benignly (the bound may be passed by the
        number of concurrent submitters, which on one event loop is one)."""
        rows = chunk.rows
        with self._lock:
            first = self._next_seq
            self._next_seq += rows
            self.submitted_records += rows
            if len(self._pending) >= self.queue_size:
                self.dropped_records += rows
                return False
        self._pending.append((first, chunk))
        return True

    def status(self) -> dict[str, int]:
        """Counts for readiness and metrics: ``written + dropped + pending rows = submitted``."""
        with self._lock:
            return {
                "backlog": len(self._pending),
                "submitted_records": self.submitted_records,
                "written_records": self.written_records,
                "dropped_records": self.dropped_records,
                "write_errors": self.write_errors,
                "next_seq": self._next_seq,
            }

    @property
    def backlog(self) -> int:
        """Chunks (requests) waiting to be written."""
        return len(self._pending)

    # --- writer side ------------------------------------------------------------------------

    def start(self) -> None:
        """Continue the sequence of the log on disk, then start the writer thread."""
        if self._thread is not None:
            return
        try:
            self._recover()
        except OSError as exc:  # an unwritable log directory: the writes will fail and be counted
            log.warning("inference log could not be recovered (%s)", exc)
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

    def _recover(self) -> None:
        """Cut a crash's trailing fragment off the newest segment and continue its sequence."""
        segments = list_segments(self.directory)
        if not segments:
            return
        path = segments[-1][1]
        with path.open("r+b") as fh:
            data = fh.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                fh.truncate(end)
        seq = last_seq(data[:end])
        if seq is not None:
            with self._lock:
                self._next_seq = max(self._next_seq, seq + 1)

    def _drain(self) -> None:
        while self._pending:
            first, chunk = self._pending.popleft()
            try:
                self._write(chunk.lines(first))
            except OSError as exc:  # a full or read-only disk: count, keep serving
                with self._lock:
                    self.write_errors += 1
                    self.dropped_records += chunk.rows
                log.warning("inference log write failed (%s); %d records dropped", exc, chunk.rows)
                continue
            with self._lock:
                self.written_records += chunk.rows

    def _write(self, data: bytes) -> None:
        """Append ``data`` whole or not at all: a failed write is truncated back off the file."""
        handle = self._segment()
        start = self._size
        view = memoryview(data)
        try:
            while view:
                n = handle.write(view)
                view = view[n or 0 :]
        except OSError:
            self._size = start
            try:
                os.ftruncate(handle.fileno(), start)
            except OSError:  # cannot even cut it back: reopen next time, the reader skips the fragment
                handle.close()
                self._file = None
            raise
        self._size += len(data)

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
                    self._file = open(last, "ab", buffering=0)  # noqa: SIM115 - kept open across writes
                    return self._file
                self._seq += 1
            else:
                self._seq = 0
        else:
            self._file.close()
            self._seq += 1
        self._file = open(self.directory / segment_name(self._seq), "ab", buffering=0)  # noqa: SIM115
        self._size = 0
        self._prune()
        return self._file

    def _prune(self) -> None:
        segments = list_segments(self.directory)
        for _, path in segments[: max(0, len(segments) - self.retained_segments)]:
            path.unlink(missing_ok=True)
