"""A full disk for the inference log, then the disk freed: the facade's counts add up (written +
dropped = submitted, rows counted written only after their write succeeded), no partial line is
left, and the sidecar's tailer counts exactly the rows the facade dropped (from the seq gap).

The disk is emulated with RLIMIT_FSIZE in a subprocess (no loop or tmpfs mount here): a write past
the limit fails with EFBIG, partly written, as a full disk does with ENOSPC; the writer treats both
as the same OSError. The limit is then raised (the disk "freed") and the writer goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from core.inference_log import list_segments
from drift.tailer import LogTailer, SlidingWindow

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
CHILD = r"""
import json, resource, signal, sys, time
import numpy as np
from core.contract import MODEL_FEATURES
from scoring.inference_log import InferenceLogWriter, LogChunk

log_dir, limit = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
writer = InferenceLogWriter(log_dir, segment_bytes=1 << 30, retained_segments=4, queue_size=100_000,
                            flush_interval_s=0.01)
writer.start()

def submit(requests):
    for i in range(requests):
        rows = 1 + i % 4
        matrix = np.full((rows, len(MODEL_FEATURES)), float(i), dtype=np.float32)
        writer.submit(LogChunk(ts=1.7e9 + i, model_version="1", features=MODEL_FEATURES, matrix=matrix,
                               scores=np.full(rows, 0.1), threshold=0.5))

def drained():
    deadline = time.monotonic() + 30
    while writer.backlog and time.monotonic() < deadline:
        time.sleep(0.01)

soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
submit(400)
drained()
full = writer.status()
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # the disk is freed
submit(50)
drained()
writer.close()
print(json.dumps({"full": full, "after": writer.status()}))
"""


def test_full_disk_loses_counted_rows_only_and_leaves_whole_lines(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(log_dir), str(64 * 1024)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    full, after = counts["full"], counts["after"]
    assert full["dropped_records"] > 0 and full["write_errors"] > 0  # the disk did fill up
    assert full["written_records"] + full["dropped_records"] == full["submitted_records"]
    assert after["written_records"] + after["dropped_records"] == after["submitted_records"]
    assert after["dropped_records"] == full["dropped_records"]  # nothing lost once it was freed

    [(_, segment)] = list_segments(log_dir)
    data = segment.read_bytes()
    assert data.endswith(b"\n")
    lines = data.splitlines()
    assert len(lines) == after["written_records"]  # every row counted written is on disk, whole
    seqs = [orjson.loads(line)["seq"] for line in lines]
    assert seqs == sorted(seqs)

    tailer = LogTailer(log_dir, tmp_path / "state.json", SlidingWindow(100_000))
    tailer.drain()
    assert tailer.state.bad_lines_total == 0
    assert tailer.state.rows_read_total == after["written_records"]
    # the sidecar's count of lost rows is the facade's count of dropped ones, exactly
    assert tailer.state.rows_lost_total == after["dropped_records"]
