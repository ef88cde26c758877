"""The ``aml-endpoint`` backend against a fake AzureML online endpoint on loopback.

The fake is the real inference server app (azureml-inference-server-http) running the real
``score.py``, behind a WSGI wrapper that plays Azure's part: key auth and optional latency.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from werkzeug.serving import make_server

from core.bundle import Bundle
from core.layout import DataLayout
from scoring.main import create_app
from scoring.settings import ScoringSettings

SCORE_PY = Path(__file__).resolve().parents[3] / "scoring" / "score.py"
ENDPOINT_KEY = "fake-azure-endpoint-key-0123456789"


class FakeAzureEndpoint:
    """Key auth (``Authorization: Bearer``) and a configurable delay in front of the scoring app."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.delay_s = 0.0
        self.deployments: list[str | None] = []

    def __call__(self, environ: dict, start_response):
        self.deployments.append(environ.get("HTTP_AZUREML_MODEL_DEPLOYMENT"))
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {ENDPOINT_KEY}":
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"message": "key auth failed"}']
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.app(environ, start_response)  # type: ignore[operator]


@pytest.fixture
def fake_azure_endpoint(
    bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, FakeAzureEndpoint]]:
    monkeypatch.setenv("AZUREML_ENTRY_SCRIPT", str(SCORE_PY))
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(bundle.directory))
    monkeypatch.setenv("PREDMAINT_MODEL_VERSION", "12")
    from azureml_inference_server_http.server import create_app as create_aml_app
    from azureml_inference_server_http.server.config import config

    monkeypatch.setattr(config, "entry_script", str(SCORE_PY))
    monkeypatch.setattr(config, "azureml_model_dir", str(bundle.directory))
    fake = FakeAzureEndpoint(create_aml_app.create())
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/score", fake
    server.shutdown()
    thread.join(5)


def _settings(url: str, tmp_path: Path, **overrides: object) -> ScoringSettings:
    values: dict[str, object] = {
        "backend": "aml-endpoint",
        "endpoint_url": url,
        "endpoint_key": SecretStr(ENDPOINT_KEY),
        "endpoint_timeout_s": 1.0,
        "endpoint_request_timeout_ms": 2000,
        "endpoint_deployment": "green",
        "online_store": "none",
        "inference_log_dir": tmp_path / "log",
    }
    values.update(overrides)
    return ScoringSettings(**values)  # type: ignore[arg-type]


def test_answers_match_the_in_process_backend(
    fake_azure_endpoint,
    bundle: Bundle,
    row: dict,
    tmp_path: Path,
    layout: DataLayout,
) -> None:
    url, fake = fake_azure_endpoint
    rows = [row, {k: v * 3 for k, v in row.items()}]
    with TestClient(create_app(_settings(url, tmp_path), layout=layout)) as remote:
        r_batch = remote.post("/predict", json={"rows": rows})
        r_one = remote.post("/predict", json={"features": row})
        info = remote.get("/model").json()
    local_settings = ScoringSettings(model_path=bundle.directory, online_store="none", log_enabled=False)
    with TestClient(create_app(local_settings, layout=layout)) as local:
        l_batch = local.post("/predict", json={"rows": rows}).json()
    assert r_batch.status_code == 200, r_batch.text
    assert r_batch.json()["model_version"] == "12"
    assert [p["anomaly_score"] for p in r_batch.json()["predictions"]] == pytest.approx(
        [p["anomaly_score"] for p in l_batch["predictions"]]
    )
    assert [p["is_anomaly"] for p in r_batch.json()["predictions"]] == [False, True]
    assert set(r_one.json()) == {"anomaly_score", "is_anomaly", "model_version", "threshold", "top_features"}
    # the endpoint's explanations reach the facade's answer unchanged
    assert [p["top_features"] for p in r_batch.json()["predictions"]] == [
        p["top_features"] for p in l_batch["predictions"]
    ]
    assert info["backend"] == "aml-endpoint" and info["version"] == "12"
    assert fake.deployments[-1] == "green"  # the pinned deployment header reached the endpoint


def test_wrong_key_is_a_502_naming_the_upstream_status(
    fake_azure_endpoint,
    row: dict,
    tmp_path: Path,
    layout: DataLayout,
) -> None:
    url, _ = fake_azure_endpoint
    settings = _settings(url, tmp_path, endpoint_key=SecretStr("another-key-that-is-wrong-000"))
    with TestClient(create_app(settings, layout=layout)) as c:
        r = c.post("/predict", json={"features": row})
        ready = c.get("/health/ready").json()
    assert r.status_code == 502
    assert r.json()["error"] == "backend_error" and r.json()["detail"]["upstream_status"] == 401
    assert ready["status"] == "not_ready" and "401" in ready["checks"]["model"]["reason"]


def test_slow_endpoint_times_out_before_its_request_timeout(
    fake_azure_endpoint,
    row: dict,
    tmp_path: Path,
    layout: DataLayout,
) -> None:
    url, fake = fake_azure_endpoint
    fake.delay_s = 0.6
    with TestClient(create_app(_settings(url, tmp_path, endpoint_timeout_s=0.2), layout=layout)) as c:
        r = c.post("/predict", json={"features": row})
    assert r.status_code == 504
    assert r.json()["error"] == "backend_timeout"


def test_unreachable_endpoint_is_502(row: dict, tmp_path: Path, layout: DataLayout) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with TestClient(create_app(_settings(f"http://127.0.0.1:{port}/score", tmp_path), layout=layout)) as c:
        r = c.post("/predict", json={"features": row})
    assert r.status_code == 502 and "unreachable" in r.json()["message"]


def test_timeout_must_stay_below_the_endpoint_request_timeout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="request_timeout_ms"):
        _settings(
            "http://127.0.0.1:1/score", tmp_path, endpoint_timeout_s=5.0, endpoint_request_timeout_ms=3000
        )
