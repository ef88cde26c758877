"""The machine_id path on real Redis (DB 13 via ``redis_url``), ingest through the facade, and an
unreachable store (a Redis URL on a closed loopback port; the shared Redis is never stopped)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.bundle import Bundle
from core.contract import FEATURE_TTL, MIN_READINGS_PER_WINDOW
from core.layout import DataLayout
from features.ingest import FUTURE_RULE
from scoring.main import create_app
from scoring.settings import ScoringSettings
from tests.scoring_fixtures import readings
from tests.waiting import wait_until


def _wait_store(client: TestClient, timeout_s: float = 60.0) -> dict[str, Any]:
    def opened() -> dict[str, Any] | None:
        store: dict[str, Any] = client.get("/health/ready").json()["checks"]["online_store"]
        return store if store["state"] not in ("opening", "probing") else None

    return wait_until(opened, timeout_s, "the online store is still opening", interval=0.1)


@pytest.fixture(scope="module")
def redis_app(
    bundle: Bundle, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One facade on Redis DB 13 for the module (Feast's apply is slow: once is enough)."""
    from features.store import apply, open_store

    root = tmp_path_factory.mktemp("scoring-redis")
    layout = DataLayout(root / "predmaint")
    apply(open_store(layout, online="redis", redis_url=redis_url))
    settings = ScoringSettings(
        model_path=bundle.directory,
        online_store="redis",
        redis_url=redis_url,
        inference_log_dir=root / "log",
    )
    with TestClient(create_app(settings, layout=layout)) as client:
        assert _wait_store(client)["ok"] is True
        yield client


def test_ingested_machine_is_scored_with_feature_time_and_age(redis_app: TestClient) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # The last minutes of the previous hour: all readings in one window, whatever the time of day.
    last = now.replace(minute=0) - timedelta(minutes=1)
    r = redis_app.post("/ingest", json={"readings": readings("m-fresh", last, MIN_READINGS_PER_WINDOW + 10)})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == MIN_READINGS_PER_WINDOW + 10

    r = redis_app.post("/predict", json={"machine_id": "m-fresh"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["machine_id"] == "m-fresh"
    assert datetime.fromisoformat(body["event_timestamp"]) > now - timedelta(hours=1)
    assert body["feature_age_s"] < FEATURE_TTL.total_seconds()
    assert body["is_sparse"] is False
    assert body["is_anomaly"] == (body["anomaly_score"] >= body["threshold"])

    batch = redis_app.post("/predict", json={"machine_ids": ["m-fresh", "m-fresh"]}).json()
    assert [p["machine_id"] for p in batch["predictions"]] == ["m-fresh", "m-fresh"]


def test_stale_features_are_refused_with_409(redis_app: TestClient) -> None:
    old = datetime.now(UTC) - FEATURE_TTL - timedelta(hours=2)
    assert redis_app.post("/ingest", json={"readings": readings("m-stale", old, 30)}).status_code == 200
    r = redis_app.post("/predict", json={"machine_id": "m-stale"})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "stale_features"
    assert body["detail"]["machines"][0]["age_s"] > FEATURE_TTL.total_seconds()


def test_unknown_machine_is_404(redis_app: TestClient) -> None:
    r = redis_app.post("/predict", json={"machine_id": "m-never-seen"})
    assert r.status_code == 404 and r.json()["error"] == "unknown_machine"


def test_bad_readings_are_422_naming_the_field(redis_app: TestClient) -> None:
    reading = readings("m-x", datetime.now(UTC), 1)[0]
    reading["temperature_c"] = 999.0
    r = redis_app.post("/ingest", json={"readings": [reading]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "readings.0.temperature_c"


def test_future_readings_are_422_naming_the_field_and_counted(redis_app: TestClient) -> None:
    now = datetime.now(UTC)
    batch = readings("m-future", now, 3)
    batch[2]["timestamp"] = datetime(2199, 1, 1, tzinfo=UTC).isoformat()
    r = redis_app.post("/ingest", json={"readings": batch})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["field"] == "readings.2.timestamp" and detail[0]["rule"] == FUTURE_RULE
    metrics = redis_app.get("/metrics").text
    assert 'predmaint_ingest_readings_total{outcome="future"} 1.0' in metrics
    # nothing of the refused batch was kept: the same real readings are accepted afterwards
    assert redis_app.post("/ingest", json={"readings": batch[:2]}).json()["accepted"] == 2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_store_fails_machine_id_only(bundle: Bundle, layout: DataLayout, row: dict) -> None:
    from features.store import apply, open_store

    apply(open_store(layout, online="sqlite"))  # the feature registry exists; only Redis is missing
    settings = ScoringSettings(
        model_path=bundle.directory,
        online_store="redis",
        redis_url=f"redis://127.0.0.1:{_closed_port()}/0",
        log_enabled=False,
    )
    with TestClient(create_app(settings, layout=layout)) as c:
        store = _wait_store(c)
        assert c.post("/predict", json={"features": row}).status_code == 200
        r = c.post("/predict", json={"machine_id": "m-1"})
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "online_store_unavailable"
        assert "refused" in r.json()["message"].lower() or "connect" in r.json()["message"].lower()
        assert r.headers["retry-after"]
        started = time.perf_counter()
        again = c.post("/predict", json={"machine_id": "m-2"})
        assert again.status_code == 503
        assert time.perf_counter() - started < 1.0  # later requests fail fast (no client retries)
        ready = c.get("/health/ready")
        assert ready.status_code == 200  # inline scoring works, so the pod stays in rotation
        store_check = ready.json()["checks"]["online_store"]
        assert ready.json()["status"] == "degraded" and store_check["ok"] is False
        assert store_check["reason"]
        ingest = c.post("/ingest", json={"readings": readings("m-1", datetime.now(UTC), 1)})
        assert ingest.status_code == 503
    assert store["kind"] == "redis"
