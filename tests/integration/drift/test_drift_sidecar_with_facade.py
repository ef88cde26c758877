"""The sidecar tails a log written by the real scoring facade (SCORE's app and log writer): rotation,
restart and retention lose nothing and count nothing twice; drifted inputs are detected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from aml.bundle_builder import build_bundle
from core.bundle import Bundle
from core.contract import DRIFT_FEATURES, MODEL_FEATURES
from core.inference_log import list_segments
from core.layout import DataLayout
from drift.drift_service import create_app as create_drift_app
from drift.settings import DriftSettings
from scoring.inference_log import InferenceLogWriter
from scoring.main import create_app as create_scoring_app
from scoring.settings import ScoringSettings
from tests.waiting import wait_until

COLS = list(DRIFT_FEATURES)  # what the monitor compares (the absolute statistics)
SEGMENT_BYTES = 4096  # a few rows per segment: every request rotates


def _rows(rng: np.random.Generator, n: int, temperature_shift: float = 0.0) -> pd.DataFrame:
    """Plausible healthy hourly features (vibration mm/s, temperature degC, speed rpm)."""
    vib = rng.normal(1.5, 0.2, n).clip(0.5)
    temp = rng.normal(40.0, 3.0, n) + temperature_shift
    rpm = rng.normal(1500.0, 40.0, n)
    data = {
        "vibration_rms_mm_s_mean": vib,
        "vibration_rms_mm_s_std": rng.normal(0.15, 0.02, n).clip(0.01),
        "vibration_rms_mm_s_max": vib * 1.3,
        "temperature_c_mean": temp,
        "temperature_c_std": rng.normal(0.3, 0.05, n).clip(0.01),
        "temperature_c_max": temp + 0.8,
        "rotational_speed_rpm_mean": rpm,
        "rotational_speed_rpm_std": rng.normal(5.0, 0.5, n).clip(0.1),
    }
    # the relative features: robust deviations of a healthy machine, about one sigma (excess only)
    return pd.DataFrame(
        {c: data[c] if c in data else np.abs(rng.normal(0.0, 1.0, n)) for c in MODEL_FEATURES}
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    frame = _rows(np.random.default_rng(0), 3000)
    return build_bundle(frame, tmp_path_factory.mktemp("bundle") / "model", n_estimators=20, seed=0)


def _facade(bundle: Bundle, layout: DataLayout, retained: int) -> tuple[TestClient, InferenceLogWriter]:
    settings = ScoringSettings(
        model_path=bundle.directory, online_store="none", inference_log_dir=layout.inference_log_dir
    )
    writer = InferenceLogWriter(
        layout.inference_log_dir, segment_bytes=SEGMENT_BYTES, retained_segments=retained, queue_size=10_000
    )
    app = create_scoring_app(settings, layout=layout, registry=CollectorRegistry(), log_writer=writer)
    return TestClient(app), writer


def _post(client: TestClient, frame: pd.DataFrame, batch: int = 50) -> None:
    for i in range(0, len(frame), batch):
        response = client.post("/predict", json={"rows": frame.iloc[i : i + batch].to_dict("records")})
        assert response.status_code == 200, response.text


def _wait_written(writer: InferenceLogWriter, rows: int) -> None:
    wait_until(lambda: writer.written_records >= rows, 20, f"the log writer never wrote {rows} records")
    assert writer.written_records == rows


def _sidecar(bundle: Bundle, layout: DataLayout, window_rows: int = 1000) -> TestClient:
    settings = DriftSettings(
        model_path=bundle.directory,
        inference_log_dir=layout.inference_log_dir,
        state_path=layout.root / "drift" / "state.json",
        segment_bytes=SEGMENT_BYTES,
        window_rows=window_rows,
        background=False,
        engine="scipy",
    )
    return TestClient(create_drift_app(settings, layout=layout, registry=CollectorRegistry()))


def test_restart_and_rotation_lose_nothing_and_drift_is_detected(bundle: Bundle, layout: DataLayout) -> None:
    rng = np.random.default_rng(1)
    first, second, drifted = _rows(rng, 300), _rows(rng, 300), _rows(rng, 400, temperature_shift=8.0)
    facade, writer = _facade(bundle, layout, retained=10_000)
    with facade:
        _post(facade, first)
        _wait_written(writer, 300)
        with _sidecar(bundle, layout) as sidecar:
            answer = sidecar.post("/drift", json={}).json()
            window = answer["window"]  # rows the model flags are left out and counted
            assert window["rows"] + window["anomalies_excluded"] == 300 and answer["drift_detected"] is False
            assert answer["reference"]["reference_hash"] == bundle.meta.reference_hash
            assert answer["reference"]["model_version"] == bundle.meta.version
        assert len(list_segments(layout.inference_log_dir)) >= 5  # rotated at every request
        _post(facade, second)
        _wait_written(writer, 600)
        # a new sidecar process: resumes from its state file, refills its window from the log
        with _sidecar(bundle, layout) as sidecar:
            monitor = sidecar.app.state.monitor  # type: ignore[attr-defined]
            assert len(monitor.tailer.window) == 300  # warm start, not counted again
            answer = sidecar.post("/drift", json={}).json()
            assert monitor.tailer.state.rows_read_total == 600
            assert monitor.tailer.state.bad_lines_total == 0
            frame, _ = monitor.tailer.window.snapshot()
            expected = pd.concat([first, second], ignore_index=True)
            # every row once, in order (the facade logs its float32 model inputs)
            np.testing.assert_allclose(frame.to_numpy(), expected.to_numpy(), rtol=1e-6)
            assert answer["drift_detected"] is False
            _post(facade, drifted)
            _wait_written(writer, 1000)
            answer = sidecar.post("/drift", json={}).json()
            # this check drifted; the sustained verdict (drift_detected) needs a second renewed window
            assert answer["check_drift_detected"] is True and answer["drift_detected"] is False
            assert answer["columns"]["temperature_c_mean"]["drifted"] is True
            assert monitor.tailer.state.rows_read_total == 1000
            metrics = sidecar.get("/metrics").text
            assert "predmaint_drift_tailer_rows_read_total 1000.0" in metrics
            assert "predmaint_drift_check_detected 1.0" in metrics


def test_retention_overtaking_the_sidecar_is_counted_not_fatal(bundle: Bundle, layout: DataLayout) -> None:
    rng = np.random.default_rng(2)
    facade, writer = _facade(bundle, layout, retained=3)
    with facade:
        _post(facade, _rows(rng, 20), batch=10)
        _wait_written(writer, 20)
        with _sidecar(bundle, layout, window_rows=500) as sidecar:
            sidecar.post("/drift", json={})
            _post(facade, _rows(rng, 400), batch=10)  # the writer deletes all but the last 3 segments
            _wait_written(writer, 420)
            sidecar.post("/drift", json={})
            state = sidecar.app.state.monitor.tailer.state  # type: ignore[attr-defined]
            assert state.segments_skipped_total > 0
            assert state.rows_lost_total > 0
            # exact: every row was either read or counted as lost (from the log's seq numbers)
            assert state.rows_read_total + state.rows_lost_total == 420
            ready = sidecar.get("/health/ready").json()
            assert ready["status"] == "degraded"
            assert ready["checks"]["inference_log"]["rows_lost_total"] == state.rows_lost_total
            answer = sidecar.get("/drift").json()
            assert answer["inference_log"]["rows_lost_total"] == state.rows_lost_total
            metrics = sidecar.get("/metrics").text
            assert f"predmaint_drift_tailer_rows_lost_total {float(state.rows_lost_total)}" in metrics
