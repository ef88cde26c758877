"""The sidecar's HTTP edge: answers, reference switch, report, metrics, 4xx on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.bundle import ONNX_FILE, REFERENCE_FILE, Bundle, BundleMeta, frame_hash, load_bundle, write_meta
from core.contract import DRIFT_FEATURES
from core.inference_log import segment_name
from core.layout import DataLayout
from drift.drift_service import create_app
from drift.settings import DriftSettings

COLS = list(DRIFT_FEATURES)  # what the monitor compares (the absolute statistics)


def make_bundle(directory: Path, frame: pd.DataFrame, version: str) -> Bundle:
    """A bundle with a real reference sample and metadata (the ONNX file is not read by the sidecar)."""
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(directory / REFERENCE_FILE, index=False)
    (directory / ONNX_FILE).write_bytes(b"not read by the drift sidecar")
    meta = BundleMeta(
        features=COLS,
        threshold=0.5,
        threshold_quantile=0.99,
        reference_hash=frame_hash(frame),
        reference_rows=len(frame),
        version=version,
        trained_at=datetime.now(UTC).isoformat(),
    )
    write_meta(directory, meta)
    return load_bundle(directory)


@dataclass
class SwitchableSource:
    """A registry stand-in whose champion can be moved by the test."""

    bundles: dict[str, Path]
    champion: str | None

    watchable = True
    """A registry: the sidecar polls it."""

    @property
    def description(self) -> str:
        return "test-registry"

    def current_version(self) -> str | None:
        return self.champion

    def fetch(self, version: str) -> tuple[Bundle, str | None]:
        return load_bundle(self.bundles[version]), version


def _rows(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(10.0, 2.0, size=(n, len(COLS))) + shift, columns=COLS)


def _log(layout: DataLayout, frame: pd.DataFrame, seq: int = 1, t0: float = 1_700_000_000.0) -> None:
    layout.inference_log_dir.mkdir(parents=True, exist_ok=True)
    with (layout.inference_log_dir / segment_name(seq)).open("ab") as fh:
        for i, values in enumerate(frame.to_dict("records")):
            record = {
                "ts": t0 + i,
                "model_version": "1",
                "features": values,
                "anomaly_score": 0.0,
                "is_anomaly": False,
            }
            fh.write((json.dumps(record) + "\n").encode())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(3)


@pytest.fixture
def source(tmp_path: Path, rng: np.random.Generator) -> SwitchableSource:
    first = make_bundle(tmp_path / "b1", _rows(rng, 2000), "content-1")
    second = make_bundle(tmp_path / "b2", _rows(rng, 2000, shift=3.0), "content-2")
    return SwitchableSource({"1": first.directory, "2": second.directory}, champion="1")


@pytest.fixture
def client(
    request: pytest.FixtureRequest, layout: DataLayout, source: SwitchableSource
) -> Iterator[TestClient]:
    # Evidently itself runs in test_window_check... (report, metrics); the rest use the scipy engine,
    # which gives the same scores (tests/unit/drift/test_drift_detector.py) in a fraction of the time.
    engine: Literal["evidently", "scipy"] = (
        "evidently" if request.node.name.startswith("test_window_check") else "scipy"
    )
    settings = DriftSettings(
        background=False, window_rows=500, min_rows=50, max_request_rows=1000, engine=engine
    )
    registry = CollectorRegistry()
    app = create_app(settings, layout=layout, registry=registry, source=source)
    with TestClient(app) as test_client:
        test_client.app_state = app.state  # type: ignore[assignment]  # kept for the tests' metric reads
        yield test_client


def _metric(client: TestClient, name: str, labels: dict[str, str] | None = None) -> float | None:
    registry: CollectorRegistry = client.app_state.registry  # type: ignore[attr-defined]
    return registry.get_sample_value(name, labels or {})


def test_no_reference_yet_is_a_clear_state_not_an_error(layout: DataLayout, source: SwitchableSource) -> None:
    source.champion = None  # nothing registered yet
    settings = DriftSettings(background=False, engine="scipy")
    with TestClient(
        create_app(settings, layout=layout, registry=CollectorRegistry(), source=source)
    ) as client:
        ready = client.get("/health/ready")
        reference = ready.json()["checks"]["reference"]
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        assert reference["state"] == "no_champion" and "no champion yet" in reference["reason"]
        answer = client.get("/drift").json()
        assert answer["drift_detected"] is False and answer["status"] == "no_verdict"
        assert answer["reference"] is None and "no champion yet" in answer["reason"]
        assert client.get("/drift/report").status_code == 404
        assert client.get("/health/live").status_code == 200


def test_window_check_detects_drift_and_names_the_reference(
    client: TestClient, layout: DataLayout, rng: np.random.Generator
) -> None:
    monitor = client.app_state.monitor  # type: ignore[attr-defined]
    assert monitor.reference is not None  # loaded at start
    _log(layout, _rows(rng, 20))
    small = client.post("/drift", json={}).json()
    assert small["status"] == "no_verdict" and "20 rows" in small["reason"]
    _log(layout, _rows(rng, 400, shift=2.0), t0=1_700_001_000.0)
    answer = client.post("/drift", json={}).json()
    # this check drifted; the sustained verdict needs 2 steps, and the first comes once the window is full
    assert answer["check_drift_detected"] is True and answer["drifted_share"] >= 0.75  # a 1-sd shift
    assert answer["drift_detected"] is False and answer["sequential"]["steps_total"] == 0
    assert answer["calibration"]["false_alarm_probability"] == 0.01
    assert all(c["threshold"] == answer["calibration"]["thresholds"][n] for n, c in answer["columns"].items())
    assert answer["reference"]["model_version"] == "1"
    assert answer["reference"]["reference_hash"].startswith("sha256:")
    assert answer["window"]["rows"] == 420
    assert set(answer["columns"]) == set(COLS)
    assert client.get("/drift").json()["checked_at"] == answer["checked_at"]
    report = client.get("/drift/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert _metric(client, "predmaint_drift_detected") == 0.0
    assert _metric(client, "predmaint_drift_check_detected") == 1.0
    assert _metric(client, "predmaint_drift_share") == answer["drifted_share"]
    assert _metric(client, "predmaint_drift_window_rows") == 420.0
    assert _metric(client, "predmaint_drift_tailer_rows_read_total") == 420.0
    assert _metric(client, "predmaint_drift_false_alarm_probability") == 0.01
    assert (
        _metric(client, "predmaint_drift_threshold", {"column": COLS[0]})
        == answer["columns"][COLS[0]]["threshold"]
    )
    assert (
        _metric(client, "predmaint_drift_score", {"feature": COLS[0]}) == answer["columns"][COLS[0]]["score"]
    )
    assert (_metric(client, "predmaint_drift_seconds_since_last_check") or 0.0) >= 0.0
    info = {"model_version": "1", "reference_hash": answer["reference"]["reference_hash"]}
    assert _metric(client, "predmaint_drift_reference_info", info) == 1.0
    _log(layout, _rows(rng, 80, shift=2.0), t0=1_700_002_000.0)  # window full: first step
    first = client.post("/drift", json={}).json()
    assert first["sequential"]["recent"] == [True] and first["drift_detected"] is False
    _log(layout, _rows(rng, 500, shift=2.0), t0=1_700_003_000.0)  # a renewed window: second step
    second = client.post("/drift", json={}).json()
    assert second["sequential"]["recent"] == [True, True] and second["drift_detected"] is True
    text = client.get("/metrics").text
    assert "predmaint_drift_detected 1.0" in text


def test_new_champion_switches_the_reference(
    client: TestClient, layout: DataLayout, source: SwitchableSource, rng: np.random.Generator
) -> None:
    monitor = client.app_state.monitor  # type: ignore[attr-defined]
    _log(layout, _rows(rng, 300, shift=3.0))
    before = client.post("/drift", json={}).json()
    assert before["check_drift_detected"] is True
    source.champion = "2"  # retrained on the shifted data
    assert monitor.refresh_reference() is True
    after = client.post("/drift", json={}).json()
    assert after["check_drift_detected"] is False and after["drift_detected"] is False
    assert after["reference"]["model_version"] == "2"
    assert after["reference"]["reference_hash"] != before["reference"]["reference_hash"]
    assert client.get("/health/ready").json()["checks"]["reference"]["model_version"] == "2"


def test_posted_batch_is_checked_against_the_serving_reference(
    client: TestClient, rng: np.random.Generator
) -> None:
    rows = _rows(rng, 200).drop(columns=[COLS[-1]]).to_dict("records")
    answer = client.post("/drift", json={"current": rows}).json()
    assert answer["drift_detected"] is False and answer["reference"]["model_version"] == "1"
    assert answer["excluded"] == {COLS[-1]: "missing in the current window"}
    assert _metric(client, "predmaint_drift_checks_total") == 0.0  # ad hoc: not the latest check


def test_ad_hoc_comparison_of_two_datasets_with_any_numeric_columns(client: TestClient) -> None:
    rng = np.random.default_rng(1)
    # a reference ten times the window: calibration's bound rests on its ten independent stretches
    reference = [{"a": float(x), "b": float(y)} for x, y in rng.normal(size=(1_000, 2))]
    current = [{"a": row["a"] + 1.0, "b": row["b"]} for row in reference[:100]]  # a moves by 1 std
    answer = client.post("/drift", json={"reference": reference, "current": current}).json()
    assert answer["columns"]["a"]["drifted"] is True and answer["columns"]["b"]["drifted"] is False
    assert answer["drifted_share"] == 0.5 and answer["drift_detected"] is True
    assert answer["reference"]["source"] == "request" and answer["reference"]["model_version"] is None


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"reference": [{"a": 1.0}]}, "current", "missing"),
        ({"current": [{"a": 1.0}] * 1001}, "current", "too_long"),
        ({"current": [{"a": "warm"}]}, "current.0.a", "float_parsing"),
        ({"current": [], "extra": 1}, "extra", "extra_forbidden"),
        ({"current": [{f"c{i}": 1.0 for i in range(101)}]}, "current", "too_many_columns"),
    ],
)
def test_bad_requests_are_422_naming_field_and_rule(
    client: TestClient, body: dict, field: str, rule: str
) -> None:
    response = client.post("/drift", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(d["field"] == field and d["rule"] == rule for d in detail), detail


def test_oversized_body_is_413(layout: DataLayout, source: SwitchableSource) -> None:
    settings = DriftSettings(background=False, max_body_bytes=1024)
    with TestClient(
        create_app(settings, layout=layout, registry=CollectorRegistry(), source=source)
    ) as client:
        response = client.post("/drift", json={"current": [{"a": 1.0}] * 200})
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"


def test_settings_refuse_a_window_that_can_never_reach_a_verdict() -> None:
    with pytest.raises(ValueError, match="DRIFT_MIN_ROWS"):
        DriftSettings(window_rows=10, min_rows=50)


def _log_fleet(
    layout: DataLayout, rng: np.random.Generator, failing: set[str], machines: int = 20, hours: int = 25
) -> None:
    """``hours`` rows per machine; the failing machines' rows are shifted, 4 in 5 flagged by the model."""
    layout.inference_log_dir.mkdir(parents=True, exist_ok=True)
    with (layout.inference_log_dir / segment_name(1)).open("ab") as fh:
        for h in range(hours):
            for m in range(machines):
                machine = f"M{m:03d}"
                bad = machine in failing
                shifted = rng.normal(10.0, 2.0, len(COLS)) + (6.0 if bad else 0.0)
                values = dict(zip(COLS, shifted.tolist(), strict=True))
                record = {
                    "ts": 1_700_000_000.0 + h * 3600 + m,
                    "model_version": "1",
                    "features": values,
                    "anomaly_score": 0.9 if bad else 0.3,
                    "is_anomaly": bad and h % 5 != 0,
                    "machine_id": machine,
                }
                fh.write((json.dumps(record) + "\n").encode())


def test_failing_machines_are_faults_and_do_not_raise_the_fleet_verdict(
    client: TestClient, layout: DataLayout, rng: np.random.Generator
) -> None:
    _log_fleet(layout, rng, failing={"M003", "M011"})
    answer = client.post("/drift", json={}).json()
    assert answer["fleet"]["alerting"] == ["M003", "M011"] and answer["fleet"]["fleet_drift"] is False
    assert answer["window"]["anomalies_excluded"] == 2 * 25  # flagged or not: a failing machine's rows
    assert answer["check_drift_detected"] is False and answer["drift_detected"] is False
    assert _metric(client, "predmaint_faults_suspected") == 2.0
    assert _metric(client, "predmaint_alerting_machines_share", {"machine_type": "unknown"}) == 0.1
    assert _metric(client, "predmaint_drift_check_detected") == 0.0


def test_most_machines_alerting_is_fleet_drift(
    client: TestClient, layout: DataLayout, rng: np.random.Generator
) -> None:
    _log_fleet(layout, rng, failing={f"M{m:03d}" for m in range(12)})
    answer = client.post("/drift", json={}).json()
    assert answer["fleet"]["fleet_drift"] is True and answer["fleet"]["faults_suspected"] == 0
    assert answer["check_drift_detected"] is True
    assert _metric(client, "predmaint_faults_suspected") == 0.0
