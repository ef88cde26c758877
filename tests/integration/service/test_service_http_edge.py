"""Both services' shared HTTP edge (``service``), on the real apps: the same body for the same fault,
415 for a body that is not JSON, 422 naming a duplicate key, 401 on the sidecar without its key,
one health shape, reasons hidden from unauthenticated callers; and on real uvicorn servers on
loopback: a chunked upload refused with 413 while it streams, a client disconnect that is neither
a traceback nor an ``internal_error``."""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from core.bundle import Bundle
from core.contract import MAX_BODY_BYTES
from core.layout import DataLayout
from drift.drift_service import create_app as create_sidecar
from drift.settings import DriftSettings
from scoring.main import create_app as create_facade
from scoring.settings import ScoringSettings
from tests.scoring_fixtures import bundle, normal_row

__all__ = ["bundle"]

KEY = "k" * 24
AUTH = {"x-api-key": KEY}
SIDECAR_MAX_BODY = 64 * 1024
CHUNK = 16 * 1024


def _facade(bundle: Bundle, tmp_path: Path, key: str | None = KEY) -> FastAPI:
    settings = ScoringSettings(
        model_path=bundle.directory,
        online_store="none",
        log_enabled=False,
        api_key=SecretStr(key) if key else None,
    )
    return create_facade(settings, layout=DataLayout(tmp_path / "facade"), registry=CollectorRegistry())


def _sidecar(model_path: Path, tmp_path: Path, key: str | None = KEY) -> FastAPI:
    settings = DriftSettings(
        model_path=model_path,
        background=False,
        engine="scipy",
        max_body_bytes=SIDECAR_MAX_BODY,
        api_key=SecretStr(key) if key else None,
    )
    return create_sidecar(settings, layout=DataLayout(tmp_path / "sidecar"), registry=CollectorRegistry())


@pytest.fixture
def clients(bundle: Bundle, tmp_path: Path) -> Iterator[dict[str, tuple[TestClient, str]]]:
    """Both apps with an API key, each with the path of its JSON endpoint."""
    with (
        TestClient(_facade(bundle, tmp_path), headers=AUTH) as facade,
        TestClient(_sidecar(bundle.directory, tmp_path), headers=AUTH) as sidecar,
    ):
        yield {"scoring": (facade, "/predict"), "drift": (sidecar, "/drift")}


def _same_fault(clients: dict[str, tuple[TestClient, str]], **request: Any) -> list[httpx.Response]:
    return [client.post(path, **request) for client, path in clients.values()]


def _shape(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error", "message", "detail"}, body
    return response.status_code, body["error"]


def test_same_fault_same_answer_in_both_services(clients: dict[str, tuple[TestClient, str]]) -> None:
    json_type = {"content-type": "application/json"}
    faults = {
        "not json": (b"{oops", json_type, 422, "invalid_input"),
        "form post": (b"a=1", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        "duplicate key": (b'{"current": [], "current": [{"a": 1}]}', json_type, 422, "invalid_input"),
        "too large": (b" " * (MAX_BODY_BYTES + 1), json_type, 413, "body_too_large"),
    }
    for name, (content, headers, status, code) in faults.items():
        answers = _same_fault(clients, content=content, headers=headers)
        assert [_shape(r) for r in answers] == [(status, code)] * 2, name
    for client, _ in clients.values():
        assert _shape(client.get("/no/such/route")) == (404, "not_found")
        assert _shape(client.delete("/metrics")) == (405, "method_not_allowed")


def test_duplicate_key_is_named_in_both_services(clients: dict[str, tuple[TestClient, str]]) -> None:
    facade, _ = clients["scoring"]
    row = normal_row()
    body = ('{"features": {"x": 1}, "features": ' + httpx.Response(200, json=row).text + "}").encode()
    answer = facade.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "features"
    sidecar, _ = clients["drift"]
    answer = sidecar.post(
        "/drift", content=b'{"current": [{"a": 1, "a": 1e308}]}', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"field": "current.0.a", "rule": "duplicate_key", "message": "key 'a' appears more than once"}
    ]
    # the same body with the key once is accepted: the check refuses repetition only
    assert facade.post("/predict", json={"features": row}).status_code == 200


def test_sidecar_needs_its_key_except_for_health_and_metrics(bundle: Bundle, tmp_path: Path) -> None:
    with TestClient(_sidecar(bundle.directory, tmp_path)) as client:
        assert _shape(client.post("/drift", json={})) == (401, "unauthorized")
        assert client.post("/drift", json={}, headers={"x-api-key": "w" * 24}).status_code == 401
        assert client.get("/drift").status_code == 401
        assert client.post("/drift", json={}, headers=AUTH).status_code == 200
        assert client.post("/drift", json={}, headers={"authorization": f"Bearer {KEY}"}).status_code == 200
        for open_path in ("/health/live", "/health/ready", "/metrics"):
            assert client.get(open_path).status_code == 200, open_path
    with TestClient(_sidecar(bundle.directory, tmp_path, key=None)) as open_client:
        assert open_client.post("/drift", json={}).status_code == 200  # no key configured: open


def test_health_has_one_shape_in_both_services(clients: dict[str, tuple[TestClient, str]]) -> None:
    for service, (client, _) in clients.items():
        live = client.get("/health/live", headers={"x-api-key": ""})
        assert live.json() == {"status": "live", "service": service, "checks": {}}
        ready = client.get("/health/ready")
        body = ready.json()
        assert ready.status_code == 200 and set(body) == {"status", "service", "checks"}
        assert body["status"] in ("ready", "degraded") and body["service"] == service
        for check in body["checks"].values():
            assert {"ok", "required", "state", "reason"} <= set(check)


def test_readiness_names_no_internal_path_to_an_unauthenticated_caller(
    bundle: Bundle, tmp_path: Path
) -> None:
    missing = tmp_path / "secret-mount" / "no-bundle"
    with TestClient(_sidecar(missing, tmp_path)) as client:
        anonymous = client.get("/health/ready")
        trusted = client.get("/health/ready", headers=AUTH)
    assert anonymous.status_code == trusted.status_code == 503
    assert anonymous.json()["checks"]["reference"]["state"] == trusted.json()["checks"]["reference"]["state"]
    assert "secret-mount" not in anonymous.text and "secret-mount" in trusted.text


# --- real servers on loopback ------------------------------------------------------------------


@contextmanager
def _serve(app: FastAPI) -> Iterator[tuple[str, int]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _chunked_upload(address: tuple[str, int], path: str, limit: int) -> tuple[bytes, int]:
    """Stream a chunked JSON body up to 20 x ``limit``, a chunk at a time with a short wait for an
    answer after each (a client flooding loopback's socket buffers would measure the kernel, not
    the server), and stop once the server answers: (status line and headers, body bytes sent)."""
    sent = 0
    with socket.create_connection(address, timeout=10) as conn:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\n"
            "content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        conn.sendall(head.encode() + b"1\r\n[\r\n")
        chunk = f"{CHUNK:x}\r\n".encode() + b"1," * (CHUNK // 2) + b"\r\n"
        deadline = time.monotonic() + 30
        while sent < 20 * limit and time.monotonic() < deadline:
            if select.select([conn], [], [], 0.02)[0]:
                break
            try:
                conn.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        answer = b""
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            if not select.select([conn], [], [], 1.0)[0]:
                continue
            data = conn.recv(65536)
            if not data:
                break
            answer += data
    return answer, sent


@pytest.mark.parametrize("service", ["scoring", "drift"])
def test_chunked_oversize_upload_is_refused_while_it_streams(
    service: str, bundle: Bundle, tmp_path: Path
) -> None:
    app, path, limit = (
        (_facade(bundle, tmp_path), "/predict", MAX_BODY_BYTES)
        if service == "scoring"
        else (_sidecar(bundle.directory, tmp_path), "/drift", SIDECAR_MAX_BODY)
    )
    with _serve(app) as address:
        answer, sent = _chunked_upload(address, path, limit)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # answered within a few chunks of the limit: the body was never read (or held) whole
    assert sent < limit + 64 * CHUNK, f"{sent} bytes streamed before the 413 (limit {limit})"


def test_client_disconnect_is_counted_not_logged_as_a_crash(
    bundle: Bundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    settings = ScoringSettings(model_path=bundle.directory, online_store="none", log_enabled=False)
    app = create_facade(settings, layout=DataLayout(tmp_path / "facade"), registry=registry)
    caplog.set_level(logging.DEBUG)
    with _serve(app) as address:
        with socket.create_connection(address, timeout=10) as conn:
            conn.sendall(
                b"POST /predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                b'content-length: 1000\r\n\r\n{"features": '
            )
        deadline = time.monotonic() + 20
        labels = {"code": "client_disconnected"}
        while registry.get_sample_value("predmaint_scoring_errors_total", labels) != 1.0:
            assert time.monotonic() < deadline, "the disconnect was never counted"
            time.sleep(0.05)
        assert httpx.get(f"http://{address[0]}:{address[1]}/health/live").status_code == 200
    assert registry.get_sample_value("predmaint_scoring_errors_total", {"code": "internal_error"}) is None
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
