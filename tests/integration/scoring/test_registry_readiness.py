"""``/health/ready`` of the facade and of the drift sidecar says why no model serves: no champion
yet (a real MLflow server on loopback answered), the registry unreachable (a closed loopback port),
or misconfigured (a scheme no plugin serves, an ``azureml://`` URI that names no workspace, and a
workspace URI with no Azure credential on this machine: only Azure itself is missing). The reasons
carry no credentials, and an unreachable registry shows within seconds, not after MLflow's retries.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from core.bundle import Bundle
from core.layout import DataLayout
from core.registry import POLL_HTTP_LIMITS, register_bundle, set_champion
from drift.drift_service import create_app as create_sidecar
from drift.settings import DriftSettings
from predmaint.demo.processes import free_port
from scoring.main import create_app as create_facade
from scoring.settings import ScoringSettings
from tests.scoring_fixtures import build_test_bundle
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

SECRET = "not-a-real-key-pw"
WORKSPACE_URI = (
    "azureml://westus2.api.azureml.ms/mlflow/v1.0/subscriptions/00000000-0000-0000-0000-000000000000"
    "/resourceGroups/rg-predmaint/providers/Microsoft.MachineLearningServices/workspaces/mlw-predmaint"
)


@pytest.fixture(autouse=True)
def _restore_mlflow_http_env() -> Iterator[None]:
    """The registry source caps MLflow's retries in the process environment; undo that per test."""
    before = {k: os.environ.get(k) for k in POLL_HTTP_LIMITS}
    for key in POLL_HTTP_LIMITS:
        os.environ.pop(key, None)
    yield
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Bundle]]:
    """A real ``mlflow server`` (SQLite backend, proxied artifacts) on a loopback port, and a bundle
    (built while the server starts: both take seconds)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with open(root / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        bundle = build_test_bundle(root / "bundle")

        def up() -> bool:
            assert proc.poll() is None, f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}"
            return httpx.get(f"{url}/health", timeout=1).status_code == 200

        wait_until(  # a loaded 2-core machine takes about a minute
            up,
            180,
            lambda: f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}",
            interval=0.3,
            ignore=(httpx.HTTPError,),
        )
        yield url, bundle
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _facade_ready(client: TestClient) -> tuple[int, dict[str, Any]]:
    """Wait for the watcher's first poll, then answer /health/ready."""

    def polled() -> tuple[int, dict[str, Any]] | None:
        response = client.get("/health/ready")
        body: dict[str, Any] = response.json()
        return (response.status_code, body) if body["checks"]["model"]["state"] != "not_checked" else None

    return wait_until(polled, 60, "the facade never polled the registry", interval=0.1)


def _facade(tmp_path: Path, uri: str) -> TestClient:
    settings = ScoringSettings(
        tracking_uri=uri, online_store="none", log_enabled=False, poll_interval_s=0.2,
        model_cache_dir=tmp_path / "cache",
    )  # fmt: skip
    return TestClient(create_facade(settings, layout=DataLayout(tmp_path / "data")))


def _sidecar_ready(tmp_path: Path, uri: str) -> tuple[int, dict[str, Any]]:
    settings = DriftSettings(tracking_uri=uri, background=False, model_cache_dir=tmp_path / "drift-cache")
    with TestClient(create_sidecar(settings, layout=DataLayout(tmp_path / "data"))) as client:
        response = client.get("/health/ready")
        return response.status_code, response.json()


def test_no_champion_yet_then_champion_on_a_real_mlflow_server(
    tmp_path: Path, served: tuple[str, Bundle]
) -> None:
    mlflow_server, bundle = served
    version = register_bundle(mlflow_server, bundle, promote=False)
    with _facade(tmp_path, mlflow_server) as client:
        status, body = _facade_ready(client)
        assert status == 503
        assert body["checks"]["model"]["state"] == "no_champion"
        assert body["checks"]["model"]["reason"].startswith("no model loaded: no champion yet")
        status, body = _sidecar_ready(tmp_path, mlflow_server)
        assert status == 503 and body["checks"]["reference"]["state"] == "no_champion"
        assert "no champion yet" in body["checks"]["reference"]["reason"]

        set_champion(mlflow_server, version)
        wait_until(
            lambda: client.get("/health/ready").status_code == 200, 60, "never ready after set_champion"
        )
        body = client.get("/health/ready").json()
        assert body["status"] == "ready" and body["checks"]["model"]["version"] == version
        assert body["checks"]["model"]["state"] == "ok"
    status, body = _sidecar_ready(tmp_path, mlflow_server)
    reference = body["checks"]["reference"]
    assert status == 200 and reference["model_version"] == version and reference["state"] == "ok"


def test_unreachable_registry_shows_its_reason_within_seconds_without_the_password(tmp_path: Path) -> None:
    uri = f"http://predmaint:{SECRET}@127.0.0.1:{free_port()}/?token={SECRET}"  # nothing listens
    started = time.monotonic()
    with _facade(tmp_path, uri) as client:
        status, body = _facade_ready(client)
    elapsed = time.monotonic() - started
    source = body["checks"]["model"]["source"]
    assert status == 503 and source["state"] == "unreachable", body
    assert "ConnectionError" in source["reason"] or "ConnectionRefused" in source["reason"]
    assert SECRET not in str(body)
    assert elapsed < 45, f"unreachable registry took {elapsed:.0f} s to show"
    status, body = _sidecar_ready(tmp_path, uri)
    assert status == 503 and body["checks"]["reference"]["state"] == "unreachable"
    assert SECRET not in str(body)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("bogus://registry.example", "tracking URI scheme 'bogus' is not supported"),
        ("azureml://westus2.api.azureml.ms/mlflow/v1.0", "is not a workspace MLflow URI"),
        (WORKSPACE_URI, "no Azure credential got a token"),
    ],
    ids=["unknown-scheme", "azureml-without-workspace", "azureml-workspace-no-azure-credential"],
)
def test_misconfigured_registry_says_what_to_fix(tmp_path: Path, uri: str, expected: str) -> None:
    with _facade(tmp_path, uri) as client:
        status, body = _facade_ready(client)
    source = body["checks"]["model"]["source"]
    assert status == 503 and source["state"] == "misconfigured", body
    assert expected in source["reason"]
    status, body = _sidecar_ready(tmp_path, uri)
    reference = body["checks"]["reference"]
    assert status == 503 and reference["state"] == "misconfigured"
    assert expected in reference["reason"]
    with warnings.catch_warnings():
        # azureml-mlflow's credential chain ends in InteractiveBrowserCredential, which leaves its
        # redirect listener (127.0.0.1:8400) open: collect it here rather than in a later test
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
