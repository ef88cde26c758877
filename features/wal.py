"""Write-ahead log of accepted readings: what makes a 2xx from the local ``POST /ingest`` durable.

The :class:`~features.ingest.Ingestor` appends every batch it accepts (already validated, in arrival
order) before it aggregates it, and answers only after :meth:`IngestWal.sync` returned, i.e. after an
``fsync`` covered the batch. Syncs are group commits: a thread that finds its batch already covered
by another thread's ``fsync`` returns at once, so concurrent requests share one ``fsync``.

The log is a series of segment files ``wal-<seq>.log`` under one directory. A checkpoint (the offline
windows and the open windows' raw readings made durable elsewhere) starts a new segment with
:meth:`rotate` and then drops the older ones with :meth:`discard`; on start the Ingestor replays
whatever segments are left (:meth:`replay`), in order, through the same aggregation, whose duplicate
rule makes a replay of readings that did reach the offline store harmless.

Record: ``<u32 payload length><u32 crc32 of payload>`` then the payload: ``<u32 n>``, ``n`` int64
timestamps (ns since the epoch, UTC), ``n`` float64 per sensor (``SENSOR_NAMES`` order), and the
``n`` machine ids joined by ``\\n`` (the contract allows no newline in an id). A torn or corrupt record
can only be the last one written, and its batch was never acknowledged (its ``fsync`` did not
return): replay stops there and truncates the segment to its last whole record.

One process owns a log directory (an exclusive ``flock`` on ``LOCK_FILE``): a second Ingestor on the
same data directory fails at once instead of interleaving records.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from core.contract import ENTITY_KEY, SENSOR_NAMES, TIMESTAMP
from features.errors import FeaturesError
from features.validate import READING_COLUMNS

LOCK_FILE: Final = "LOCK"
_HEADER: Final = struct.Struct("<II")
_COUNT: Final = struct.Struct("<I")
_SEGMENT_PREFIX: Final = "wal-"
_SEGMENT_SUFFIX: Final = ".log"


class WalInUse(FeaturesError):
    """Another process holds the ingest write-ahead log of this data directory."""

    status = 503
    code = "ingest_log_in_use"
    hint = "one `predmaint serve` per data directory (PREDMAINT_DATA_DIR)"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(f"the ingest write-ahead log {directory} is held by another process")


def encode(frame: pd.DataFrame) -> bytes:
    """One record (header and payload) for a frame of valid readings (contract columns)."""
    n = len(frame)
    ts = pd.DatetimeIndex(frame[TIMESTAMP]).tz_convert("UTC").as_unit("ns").asi8.astype("<i8", copy=False)
    parts = [_COUNT.pack(n), ts.tobytes()]
    parts += [frame[name].to_numpy(dtype="<f8").tobytes() for name in SENSOR_NAMES]
    parts.append("\n".join(map(str, frame[ENTITY_KEY].to_numpy())).encode())
    payload = b"".join(parts)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> pd.DataFrame:
    """The readings frame of one record's payload (the inverse of :func:`encode`)."""
    (n,) = _COUNT.unpack_from(payload)
    at = _COUNT.size
    ts = np.frombuffer(payload, "<i8", n, at)
    at += 8 * n
    sensors = {}
    for name in SENSOR_NAMES:
        sensors[name] = np.frombuffer(payload, "<f8", n, at).astype(np.float64)
        at += 8 * n
    ids = payload[at:].decode().split("\n") if n else []
    frame = pd.DataFrame(
        {
            ENTITY_KEY: np.asarray(ids, dtype=object),
            TIMESTAMP: pd.DatetimeIndex(ts.astype("datetime64[ns]")).tz_localize("UTC"),
            **sensors,
        }
    )
    return frame[list(READING_COLUMNS)]


def _records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(end offset, payload) of each whole, intact record of a segment, in order."""
    data = path.read_bytes()
    at = 0
    while at + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, at)
        end = at + _HEADER.size + length
        payload = data[at + _HEADER.size : end]
        if end > len(data) or zlib.crc32(payload) != crc:
            return
        yield end, payload
        at = end


class IngestWal:
    """The append, sync, rotate and replay side of the log. Appends and rotations are serialised by
    the caller (the Ingestor's lock); :meth:`sync` may run in any thread."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._fsync = fsync
        self._lock_fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise WalInUse(directory) from None
        self._sync_lock = threading.Lock()
        segments = self.segments()
        self._seq = (_seq_of(segments[-1]) + 1) if segments else 1
        self._fd = self._open(self._seq)
        self._written = 0  # bytes appended to the current segment
        self._synced: tuple[int, int] = (self._seq, 0)
        self.appended_records = 0
        self.syncs = 0

    def segments(self) -> list[Path]:
        """Segment files, oldest first."""
        return sorted(
            p
            for p in self.directory.iterdir()
            if p.name.startswith(_SEGMENT_PREFIX) and p.name.endswith(_SEGMENT_SUFFIX)
        )

    def _open(self, seq: int) -> int:
        path = self.directory / f"{_SEGMENT_PREFIX}{seq:010d}{_SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._sync_dir()
        return fd

    def _sync_dir(self) -> None:
        if not self._fsync:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def replay(self) -> Iterator[pd.DataFrame]:
        """The batches of every segment older than the current one, in order; a torn last record is
        cut off (see the module docstring)."""
        for path in self.segments():
            if _seq_of(path) >= self._seq:
                continue
            whole = 0
            for end, payload in _records(path):
                whole = end
                yield decode(payload)
            if whole < path.stat().st_size:
                os.truncate(path, whole)

    def append(self, frame: pd.DataFrame) -> tuple[int, int]:
        """Write one batch (not yet synced); returns its position for :meth:`sync`."""
        record = encode(frame)
        view = memoryview(record)
        while view:
            view = view[os.write(self._fd, view) :]
        self._written += len(record)
        self.appended_records += 1
        return self._seq, self._written

    def sync(self, position: tuple[int, int]) -> None:
        """Return once the record ending at ``position`` is on disk (one ``fsync`` serves every
        record written before it)."""
        with self._sync_lock:
            if position <= self._synced:
                return
            target = (self._seq, self._written)
            if self._fsync:
                os.fsync(self._fd)
            self.syncs += 1
            self._synced = target

    def rotate(self) -> int:
        """Sync and close the current segment and start the next; returns the new segment's number
        (every older segment may go once a checkpoint covers it: :meth:`discard`)."""
        with self._sync_lock:
            if self._fsync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._seq += 1
            self._fd = self._open(self._seq)
            self._written = 0
            self._synced = (self._seq, 0)
            return self._seq

    def discard(self, before: int) -> int:
        """Delete the segments older than number ``before``; returns how many."""
        gone = 0
        for path in self.segments():
            if _seq_of(path) < before:
                path.unlink()
                gone += 1
        if gone:
            self._sync_dir()
        return gone

    @property
    def empty(self) -> bool:
        """Nothing appended since the last rotation."""
        return self._written == 0

    def close(self) -> None:
        """Sync, close and release the directory (idempotent)."""
        if self._fd < 0:
            return
        with self._sync_lock:
            if self._fsync:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        os.close(self._lock_fd)


def _seq_of(path: Path) -> int:
    return int(path.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)])


def fsync_file(path: Path) -> None:
    """``fsync`` a file that was written and renamed into place, and its directory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["LOCK_FILE", "IngestWal", "WalInUse", "decode", "encode", "fsync_file"]
