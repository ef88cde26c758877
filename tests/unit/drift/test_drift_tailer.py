"""The log tailer: rotation, partial lines, restarts and retention lose nothing and count nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.contract import MODEL_FEATURES
from core.inference_log import segment_name
from drift.tailer import LogTailer, Row, SlidingWindow


def _line(i: int) -> bytes:
    record = {
        "seq": i,
        "ts": 1_700_000_000.0 + i,
        "model_version": "1",
        "features": {name: float(i) for name in MODEL_FEATURES},
        "anomaly_score": 0.1,
        "is_anomaly": False,
    }
    return (json.dumps(record) + "\n").encode()


def _append(log: Path, seq: int, data: bytes) -> None:
    log.mkdir(parents=True, exist_ok=True)
    with (log / segment_name(seq)).open("ab") as fh:
        fh.write(data)


def _tailer(tmp_path: Path, seen: list[float], rows: int = 10_000, age: float | None = None) -> LogTailer:
    return LogTailer(
        tmp_path / "log",
        tmp_path / "state" / "tailer.json",
        SlidingWindow(rows, age),
        segment_bytes=4096,
        on_rows=lambda batch: seen.extend(r.ts - 1_700_000_000.0 for r in batch),
    )


def test_rotation_and_partial_lines_are_read_once_in_order(tmp_path: Path) -> None:
    log, seen = tmp_path / "log", list[float]()
    tailer = _tailer(tmp_path, seen)
    assert tailer.poll() == 0  # no log yet: nothing, no error
    _append(log, 1, b"".join(_line(i) for i in range(5)))
    half = _line(5)
    _append(log, 1, half[:20])  # the writer is mid-line
    assert tailer.poll() == 5
    _append(log, 1, half[20:])
    _append(log, 2, b"".join(_line(i) for i in range(6, 9)))  # rotation
    assert tailer.poll() == 4
    assert seen == [float(i) for i in range(9)]
    assert tailer.state.rows_read_total == 9 and tailer.state.bad_lines_total == 0
    assert (tailer.state.seq, tailer.state.offset) == (2, len(b"".join(_line(i) for i in range(6, 9))))


def test_restart_resumes_without_loss_or_double_counting(tmp_path: Path) -> None:
    log, seen = tmp_path / "log", list[float]()
    _append(log, 1, b"".join(_line(i) for i in range(100)))
    first = _tailer(tmp_path, seen, rows=50)
    assert first.poll(max_bytes=len(_line(0)) * 30) > 0  # stop part-way through the segment
    read_before = first.state.rows_read_total
    assert 0 < read_before < 100
    del first
    _append(log, 2, b"".join(_line(i) for i in range(100, 150)))
    again = _tailer(tmp_path, seen, rows=50)
    assert len(again.window) == min(read_before, 50)  # warm start refills the window, uncounted
    assert again.state.rows_read_total == read_before
    again.drain()
    assert seen == [float(i) for i in range(150)]
    assert again.state.rows_read_total == 150
    frame, _ts = again.window.snapshot()
    assert len(frame) == 50 and frame[MODEL_FEATURES[0]].iloc[-1] == 149.0
    assert list(frame.columns) == list(MODEL_FEATURES)
    assert not [p for p in (tmp_path / "state").iterdir() if p.name.startswith(".tailer-")]


def test_garbage_and_a_fragment_left_by_a_crashed_writer_are_counted_as_bad_lines(tmp_path: Path) -> None:
    log, seen = tmp_path / "log", list[float]()
    _append(log, 1, _line(0) + b"not json\n" + b'{"ts": 1}\n' + _line(1) + b'{"ts": 17000')
    _append(log, 2, _line(2))
    tailer = _tailer(tmp_path, seen)
    tailer.drain()
    assert seen == [0.0, 1.0, 2.0]
    assert tailer.state.bad_lines_total == 3


def test_segments_deleted_by_retention_are_skipped_and_the_rows_lost_counted_exactly(
    tmp_path: Path,
) -> None:
    log, seen = tmp_path / "log", list[float]()
    _append(log, 1, b"".join(_line(i) for i in range(4)))
    tailer = _tailer(tmp_path, seen)
    tailer.poll()
    # the writer goes on (rows 4-999 in segments 2 and 3), starts 4, and retention deletes 1-3
    _append(log, 2, b"".join(_line(i) for i in range(4, 500)))
    _append(log, 3, b"".join(_line(i) for i in range(500, 1000)))
    _append(log, 4, b"".join(_line(i) for i in range(1000, 1003)))
    for seq in (1, 2, 3):
        (log / segment_name(seq)).unlink()
    tailer.poll()
    assert seen[-3:] == [1000.0, 1001.0, 1002.0]
    assert tailer.state.segments_skipped_total == 3
    assert tailer.state.rows_lost_total == 996  # rows 4-999, from the seq gap
    assert tailer.state.rows_read_total + tailer.state.rows_lost_total == 1003
    # the window holds rows 0-3 and 1000-1002: a check of it is missing the 996 in between
    assert tailer.window.rows_missing() == 996


def test_a_log_started_afresh_is_not_a_loss(tmp_path: Path) -> None:
    log, seen = tmp_path / "log", list[float]()
    _append(log, 1, b"".join(_line(i) for i in range(10, 13)) + b"".join(_line(i) for i in range(3)))
    tailer = _tailer(tmp_path, seen)
    tailer.poll()
    assert tailer.state.rows_read_total == 6 and tailer.state.rows_lost_total == 0


def test_window_keeps_the_newest_rows_by_count_and_by_age() -> None:
    by_rows = SlidingWindow(3)
    by_rows.extend([Row(float(i), "1", (float(i),) * len(MODEL_FEATURES)) for i in range(10)])
    assert len(by_rows) == 3 and by_rows.snapshot()[1] == [7.0, 8.0, 9.0]
    by_age = SlidingWindow(100, max_age_s=2.5)
    by_age.extend([Row(float(i), "1", (float(i),) * len(MODEL_FEATURES)) for i in range(10)])
    assert by_age.snapshot()[1] == [7.0, 8.0, 9.0]


def test_missing_feature_becomes_nan_and_unknown_fields_are_ignored(tmp_path: Path) -> None:
    log, seen = tmp_path / "log", list[float]()
    record = {"ts": 1_700_000_000.0, "model_version": "1", "features": {MODEL_FEATURES[0]: 1.0}, "x": 1}
    _append(log, 1, (json.dumps(record) + "\n").encode())
    tailer = _tailer(tmp_path, seen)
    tailer.poll()
    frame, _ = tailer.window.snapshot()
    assert frame[MODEL_FEATURES[0]].iloc[0] == 1.0
    assert frame[MODEL_FEATURES[1]].isna().all()


def test_corrupt_state_file_starts_over_rather_than_crashing(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "tailer.json").write_text("{not json")
    _append(tmp_path / "log", 1, _line(0))
    seen: list[float] = []
    assert _tailer(tmp_path, seen).poll() == 1


@pytest.mark.parametrize("rows", [0, -1])
def test_window_rejects_nonsense_sizes(rows: int) -> None:
    with pytest.raises(ValueError, match="max_rows"):
        SlidingWindow(rows)
