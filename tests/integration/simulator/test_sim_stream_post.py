"""``predmaint simulate stream`` against a real HTTP server on loopback: contract-valid batches of at
most MAX_INGEST_BATCH readings that continue the simulated history."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from core.contract import MAX_INGEST_BATCH, TelemetryBatch
from predmaint.cli import app


class _Recorder(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        payload = b'{"accepted": true}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def ingest_url() -> Iterator[str]:
    _Recorder.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ingest"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_stream_posts_valid_batches_that_continue_the_history(ingest_url: str, tmp_path: Path) -> None:
    # the history in the data directory decides the fleet and where the stream starts
    made = CliRunner().invoke(
        app,
        [
            "simulate",
            "--machines",
            "50",
            "--history-days",
            "2",
            "--end",
            "2026-03-04T05:00Z",
            "--no-ingest",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert made.exit_code == 0, made.output
    # 50 machines x 120 simulated minutes per batch = 6,000 readings: more than one request's worth
    args = [
        "simulate",
        "stream",
        "--url",
        ingest_url,
        "--data-dir",
        str(tmp_path),
        "--speedup",
        "7200",
        "--minutes",
        "0.05",
        "--no-realtime",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    batches = [TelemetryBatch.model_validate(body) for body in _Recorder.bodies]
    assert len(batches) >= 4
    assert max(len(b.readings) for b in batches) == MAX_INGEST_BATCH
    readings = [r for b in batches for r in b.readings]
    assert min(r.timestamp for r in readings) == datetime(2026, 3, 4, 5, tzinfo=UTC)
    assert len({r.machine_id for r in readings}) == 50
    # 3 wall seconds x 7200 = 6 simulated hours of 50 machines at one reading a minute
    assert 0.99 * 6 * 60 * 50 <= len(readings) <= 6 * 60 * 50
