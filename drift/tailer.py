"""Tail the inference log (``core.inference_log``) into a sliding window of model inputs.

Position: ``(seq, offset)`` of the next unread byte, kept in a small JSON state file that is written
atomically (temp file + ``os.replace``) only after the rows before it have been applied to the
window. A restart resumes from there: nothing is lost and nothing is counted twice. A crash between
applying rows and saving the state re-reads those rows into the (fresh, in-memory) window but not
into the persisted totals, which are saved together with the position.

- Partial last line: only bytes up to the last newline are consumed; the rest is read next time.
  Once a newer segment exists the writer has finished the older one, so a trailing fragment there
  is counted as a bad line and skipped.
- Loss: every record carries the writer's ``seq`` (:mod:`core.inference_log`). A jump in it is
  rows that never reached the tailer, counted exactly in ``rows_lost_total`` whatever the cause
  (retention deleted segments before they were read, the facade's queue was full, its disk was
  full). If retention deleted segments the tailer had not finished, it jumps to the oldest segment
  left and counts the segments skipped; the rows come out of the ``seq`` gap. Loss is counted from
  the first row this tailer's state saw (rows deleted before it ever started are not known).
  A row after a gap carries ``lost_before``; :meth:`SlidingWindow.rows_missing` says how many rows
  a window lacks between its oldest and newest row.
- Window: the newest ``max_rows`` rows, further limited to ``max_age_s`` seconds before the newest
  row's ``ts`` when set. Memory is bounded by ``max_rows`` whatever the log's length.
- Warm start: after a restart the window is refilled from the rows just before the saved position
  (newest segments first, never beyond what the window holds); those rows are not counted again.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from core.contract import MODEL_FEATURES
from core.inference_log import DEFAULT_SEGMENT_BYTES, list_segments

READ_CHUNK_BYTES = 1 << 20


class TailerState(BaseModel):
    """What the state file holds."""

    seq: int | None = None
    """Segment of the next unread byte; ``None`` before the first segment was seen."""
    offset: int = 0
    rows_read_total: int = 0
    rows_lost_total: int = 0
    """Rows missing from the ``seq`` sequence (retention, a full queue or disk): exact."""
    last_seq: int | None = None
    """``seq`` of the last row read."""
    segments_skipped_total: int = 0
    bad_lines_total: int = 0
    bytes_read_total: int = 0
    segments_finished_total: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    ts: float
    model_version: str
    values: tuple[float, ...]
    is_anomaly: bool = False
    """The serving model flagged this row (see ``drift.monitor.select_rows``)."""
    anomaly_score: float = math.nan
    machine_id: str | None = None
    seq: int | None = None
    lost_before: int = 0
    """Rows missing from the log's sequence just before this one."""


class SlidingWindow:
    """The newest rows (by count and optionally by age), thread-safe."""

    def __init__(
        self, max_rows: int, max_age_s: float | None = None, columns: Sequence[str] = MODEL_FEATURES
    ):
        if max_rows < 1:
            raise ValueError("max_rows must be >= 1")
        self.columns = tuple(columns)
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._rows: deque[Row] = deque(maxlen=max_rows)
        self._lock = threading.Lock()

    def extend(self, rows: Sequence[Row]) -> None:
        with self._lock:
            self._rows.extend(rows)
            self._evict_old()

    def extendleft_older(self, rows: Sequence[Row]) -> None:
        """Prepend rows older than every row held (warm start), oldest first in ``rows``."""
        with self._lock:
            room = self.max_rows - len(self._rows)
            if room <= 0:
                return
            self._rows.extendleft(reversed(list(rows)[-room:]))
            self._evict_old()

    def _evict_old(self) -> None:
        if self.max_age_s is None or not self._rows:
            return
        cutoff = self._rows[-1].ts - self.max_age_s
        while self._rows and self._rows[0].ts < cutoff:
            self._rows.popleft()

    def __len__(self) -> int:
        return len(self._rows)

    def rows_missing(self) -> int:
        """Rows lost between the oldest and the newest row held: a check of this window is missing
        them (rows lost before the oldest one would have been older than the window anyway)."""
        with self._lock:
            return sum(row.lost_before for i, row in enumerate(self._rows) if i)

    @property
    def full(self) -> bool:
        return len(self._rows) >= self.max_rows

    def snapshot(self) -> tuple[Any, list[float]]:
        """The window as a DataFrame (``columns``) and the rows' Unix times."""
        import pandas as pd

        with self._lock:
            rows = list(self._rows)
        frame = pd.DataFrame([r.values for r in rows], columns=list(self.columns), dtype="float64")
        return frame, [r.ts for r in rows]

    def snapshot_with_flags(self) -> tuple[Any, list[float], list[bool]]:
        """Like :meth:`snapshot`, plus each row's ``is_anomaly`` flag."""
        import pandas as pd

        with self._lock:
            rows = list(self._rows)
        frame = pd.DataFrame([r.values for r in rows], columns=list(self.columns), dtype="float64")
        return frame, [r.ts for r in rows], [r.is_anomaly for r in rows]

    def snapshot_rows(self) -> tuple[Any, list[Row]]:
        """The window as a DataFrame (``columns``) and its rows (flags, scores, machine ids)."""
        import pandas as pd

        with self._lock:
            rows = list(self._rows)
        frame = pd.DataFrame([r.values for r in rows], columns=list(self.columns), dtype="float64")
        return frame, rows

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


def parse_line(line: bytes, columns: Sequence[str]) -> Row | None:
    """One log line to a row (missing or non-numeric features become NaN); None if unreadable."""
    try:
        record = orjson.loads(line)
        features = record["features"]
        ts = float(record["ts"])
        version = str(record.get("model_version", ""))
        flagged = record.get("is_anomaly") is True
        raw_score = record.get("anomaly_score")
        numeric = isinstance(raw_score, int | float) and not isinstance(raw_score, bool)
        score = float(raw_score) if numeric else math.nan
        raw_id = record.get("machine_id")
        machine = str(raw_id) if isinstance(raw_id, str) and raw_id else None
        raw_seq = record.get("seq")
        seq = raw_seq if isinstance(raw_seq, int) and not isinstance(raw_seq, bool) else None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not isinstance(features, dict):
        return None
    values = []
    for name in columns:
        v = features.get(name)
        values.append(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan)
    return Row(
        ts=ts,
        model_version=version,
        values=tuple(values),
        is_anomaly=flagged,
        anomaly_score=score,
        machine_id=machine,
        seq=seq,
    )


class LogTailer:
    """Follows the log directory and feeds a :class:`SlidingWindow`. Not thread-safe: one poller."""

    def __init__(
        self,
        log_dir: Path,
        state_path: Path,
        window: SlidingWindow,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        on_rows: Callable[[list[Row]], None] | None = None,
    ):
        self.log_dir = Path(log_dir)
        self.state_path = Path(state_path)
        self.window = window
        self.segment_bytes = segment_bytes
        self.on_rows = on_rows
        self.state = self._load_state()
        self._warm_start()

    # --- state ------------------------------------------------------------------------------------

    def _load_state(self) -> TailerState:
        if not self.state_path.is_file():
            return TailerState()
        try:
            return TailerState.model_validate_json(self.state_path.read_bytes())
        except ValueError:
            # A corrupt state file cannot be trusted: start from the beginning of the retained log.
            return TailerState()

    def _save_state(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tailer-", dir=self.state_path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(self.state.model_dump_json())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- reading ----------------------------------------------------------------------------------

    def _count_gaps(self, rows: list[Row]) -> list[Row]:
        """Count the rows missing from the ``seq`` sequence and mark the rows after each gap."""
        state = self.state
        out = rows
        for i, row in enumerate(rows):
            if row.seq is None:
                continue
            last = state.last_seq
            if last is not None and row.seq > last + 1:
                lost = row.seq - last - 1
                state.rows_lost_total += lost
                if out is rows:
                    out = list(rows)
                out[i] = replace(row, lost_before=lost)
            # a seq at or below the last one: the log was started afresh, not a loss
            state.last_seq = row.seq
        return out

    def poll(self, max_bytes: int | None = None) -> int:
        """Read what is new (at most about ``max_bytes``), apply it, save the position. Returns rows
        applied."""
        segments = list_segments(self.log_dir)
        if not segments:
            return 0
        seqs = [seq for seq, _ in segments]
        paths = dict(segments)
        state = self.state
        if state.seq is None:
            state.seq, state.offset = seqs[0], 0
        elif state.seq not in paths:
            newer = [s for s in seqs if s > state.seq]
            if not newer:
                return 0  # our segment is gone and nothing newer exists yet: wait
            # Retention deleted unread data: the rows lost show as a seq gap in the next row read.
            state.segments_skipped_total += newer[0] - state.seq
            state.seq, state.offset = newer[0], 0
        applied = 0
        budget = max_bytes if max_bytes is not None else math.inf
        while budget > 0:
            path = paths.get(state.seq)
            if path is None:
                break
            has_newer = any(s > state.seq for s in seqs)
            try:
                rows, consumed, bad, finished = self._read_segment(path, state.offset, has_newer, budget)
            except FileNotFoundError:
                break  # deleted under us; next poll handles the gap
            if rows:
                rows = self._count_gaps(rows)
                self.window.extend(rows)
                if self.on_rows is not None:
                    self.on_rows(rows)
            state.offset += consumed
            state.rows_read_total += len(rows)
            state.bad_lines_total += bad
            state.bytes_read_total += consumed
            applied += len(rows)
            budget -= consumed
            if consumed:
                self._save_state()
            if not finished:
                break
            nxt = [s for s in seqs if s > state.seq]
            state.segments_finished_total += 1
            state.seq, state.offset = nxt[0], 0
            self._save_state()
        return applied

    def drain(self) -> int:
        """Poll until nothing new is left; returns rows applied."""
        total = 0
        while (n := self.poll(max_bytes=64 * READ_CHUNK_BYTES)) > 0:
            total += n
        return total

    def _read_segment(
        self, path: Path, offset: int, has_newer: bool, budget: float
    ) -> tuple[list[Row], int, int, bool]:
        """Rows from ``offset`` up to the last complete line (or ``budget`` bytes). Returns rows, bytes
        consumed, bad lines, and whether the segment is finished (a newer one exists and all was read)."""
        rows: list[Row] = []
        bad = 0
        consumed = 0
        columns = self.window.columns
        with path.open("rb") as fh:
            fh.seek(offset)
            pending = b""
            while consumed < budget:
                chunk = fh.read(int(min(READ_CHUNK_BYTES, max(budget - consumed, 4096))))
                if not chunk:
                    break
                data = pending + chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    pending = data
                    continue
                complete, pending = data[: cut + 1], data[cut + 1 :]
                for line in complete.splitlines():
                    if not line.strip():
                        continue
                    row = parse_line(line, columns)
                    if row is None:
                        bad += 1
                    else:
                        rows.append(row)
                consumed += len(complete)
            else:
                return rows, consumed, bad, False  # budget spent
        if has_newer:
            if pending:
                bad += 1  # the writer moved on: this fragment will never be completed
                consumed += len(pending)
            return rows, consumed, bad, True
        return rows, consumed, bad, False

    # --- warm start -------------------------------------------------------------------------------

    def _warm_start(self) -> None:
        """Refill the window from the rows before the saved position, newest segments first."""
        if self.state.seq is None:
            return
        older = [(s, p) for s, p in list_segments(self.log_dir) if s <= self.state.seq]
        collected: list[Row] = []
        for seq, path in reversed(older):
            limit = self.state.offset if seq == self.state.seq else None
            try:
                with path.open("rb") as fh:
                    data = fh.read(limit) if limit is not None else fh.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n")
            rows = [
                r for line in data[: end + 1].splitlines() if (r := parse_line(line, self.window.columns))
            ]
            collected = rows + collected
            if len(collected) >= self.window.max_rows:
                break
            if (
                self.window.max_age_s is not None
                and collected
                and collected[0].ts < collected[-1].ts - self.window.max_age_s
            ):
                break
        self.window.extendleft_older(collected[-self.window.max_rows :])

    def stats(self) -> dict[str, Any]:
        return self.state.model_dump(mode="json") | {"window_rows": len(self.window)}
