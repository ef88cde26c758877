"""The inference log writer: JSON Lines in the shared format, size rotation, retention, resume."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from core.contract import MODEL_FEATURES
from core.inference_log import InferenceRecord, list_segments
from scoring.inference_log import InferenceLogWriter, LogChunk


def _chunk(rows: int, machine: bool = False) -> LogChunk:
    matrix = np.arange(rows * len(MODEL_FEATURES), dtype=np.float32).reshape(rows, -1)
    return LogChunk(
        ts=time.time(),
        model_version="7",
        features=MODEL_FEATURES,
        matrix=matrix,
        scores=np.linspace(0.3, 0.7, rows),
        threshold=0.6,
        machine_ids=tuple(f"m-{i}" for i in range(rows)) if machine else None,
        event_timestamps=tuple(1_700_000_000.0 for _ in range(rows)) if machine else None,
    )


def _records(directory: Path) -> list[InferenceRecord]:
    return [
        InferenceRecord.model_validate_json(line)
        for _, path in list_segments(directory)
        for line in path.read_text().splitlines()
    ]


def test_records_follow_the_shared_format(tmp_path: Path) -> None:
    writer = InferenceLogWriter(tmp_path, segment_bytes=1 << 20, retained_segments=3, queue_size=10)
    writer.start()
    assert writer.submit(_chunk(3, machine=True))
    writer.close()
    records = _records(tmp_path)
    assert len(records) == 3 and writer.written_records == 3
    assert records[0].model_version == "7" and list(records[0].features) == list(MODEL_FEATURES)
    assert [r.is_anomaly for r in records] == [False, False, True]
    assert records[1].machine_id == "m-1" and records[1].event_timestamp == pytest.approx(1_700_000_000.0)


def test_segments_rotate_by_size_and_old_ones_are_deleted(tmp_path: Path) -> None:
    writer = InferenceLogWriter(tmp_path, segment_bytes=4096, retained_segments=3, queue_size=1000)
    writer.start()
    for _ in range(60):
        writer.submit(_chunk(5))
    writer.close()
    segments = list_segments(tmp_path)
    seqs = [seq for seq, _ in segments]
    assert len(segments) == 3 and seqs == list(range(seqs[0], seqs[0] + 3)) and seqs[0] > 0
    # a segment rotates after the chunk that crosses the limit: at most one chunk (5 records) over.
    # A chunk here is just under 4,096 bytes, so a segment may hold two: the bound is the limit plus
    # the largest chunk written (seq 295-299 has the most digits), not twice the limit.
    chunk_bytes = len(_chunk(5).lines(295))
    assert all(path.stat().st_size < 4096 + chunk_bytes for _, path in segments)


def test_a_restarted_writer_appends_after_the_newest_segment(tmp_path: Path) -> None:
    for _ in range(2):
        writer = InferenceLogWriter(tmp_path, segment_bytes=1 << 20, retained_segments=3, queue_size=10)
        writer.start()
        writer.submit(_chunk(2))
        writer.close()
    assert [seq for seq, _ in list_segments(tmp_path)] == [0]
    assert len(_records(tmp_path)) == 4


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    writer = InferenceLogWriter(tmp_path, segment_bytes=1 << 20, retained_segments=3, queue_size=2)
    started = time.perf_counter()
    accepted = [writer.submit(_chunk(4)) for _ in range(5)]  # writer thread not started: nothing drains
    assert time.perf_counter() - started < 1.0
    assert accepted == [True, True, False, False, False]
    assert writer.dropped_records == 12 and writer.backlog == 2


def test_an_unwritable_directory_counts_drops_and_keeps_going(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")
    writer = InferenceLogWriter(blocker / "log", segment_bytes=1 << 20, retained_segments=3, queue_size=10)
    writer.start()
    writer.submit(_chunk(3))
    writer.close()
    assert writer.dropped_records == 3 and writer.write_errors == 1
