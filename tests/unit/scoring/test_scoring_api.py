"""The facade through its real app: answers, every error path, metrics, inference log."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.bundle import Bundle
from core.contract import MAX_BODY_BYTES, MAX_PREDICT_BATCH, MODEL_FEATURES
from core.inference_log import InferenceRecord, list_segments
from core.layout import DataLayout
from scoring.inference_log import InferenceLogWriter
from scoring.main import create_app
from scoring.settings import ScoringSettings

API_KEY = "k3y-for-tests-0123456789"


def test_one_inline_row_is_scored_with_model_identity(client: TestClient, row: dict, bundle: Bundle) -> None:
    r = client.post("/predict", json={"features": row})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == bundle.meta.version
    assert body["threshold"] == pytest.approx(bundle.meta.threshold)
    assert 0 < body["anomaly_score"] <= 1
    assert body["is_anomaly"] == (body["anomaly_score"] >= body["threshold"])
    assert "event_timestamp" not in body  # inline features have no event time


def test_batch_answers_one_prediction_per_row_in_order(client: TestClient, row: dict) -> None:
    extreme = {k: v * 3 for k, v in row.items()}
    r = client.post("/predict", json={"rows": [row, extreme, row]})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 3
    assert preds[0]["anomaly_score"] == preds[2]["anomaly_score"]
    assert preds[1]["anomaly_score"] > preds[0]["anomaly_score"]
    assert preds[1]["is_anomaly"] is True


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code
    return body


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (lambda row: row.pop(MODEL_FEATURES[0]), f"features.{MODEL_FEATURES[0]}", "missing"),
        (lambda row: row.update({"unknown": 1.0}), "features.unknown", "extra_forbidden"),
        (
            lambda row: row.update({"temperature_c_mean": 500.0}),
            "features.temperature_c_mean",
            "less_than_equal",
        ),
        (
            lambda row: row.update({"vibration_rms_mm_s_std": -1.0}),
            "features.vibration_rms_mm_s_std",
            "greater_than_equal",
        ),
        (lambda row: row.update({"temperature_c_max": "hot"}), "features.temperature_c_max", "float_type"),
        (lambda row: row.update({"temperature_c_max": True}), "features.temperature_c_max", "float_type"),
    ],
)
def test_bad_rows_answer_422_naming_field_and_rule(
    client: TestClient, row: dict, mutate, field, rule
) -> None:
    mutate(row)
    body = _error(client.post("/predict", json={"features": row}), 422, "invalid_input")
    assert {"field": field, "rule": rule} in [
        {"field": d["field"], "rule": d["rule"]} for d in body["detail"]
    ]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_values_are_refused(client: TestClient, row: dict, literal: str) -> None:
    text = json.dumps({"features": row}).replace(str(row["temperature_c_mean"]), literal)
    r = client.post("/predict", content=text, headers={"content-type": "application/json"})
    body = _error(r, 422, "invalid_input")
    assert body["detail"][0]["field"] == "features.temperature_c_mean"
    assert body["detail"][0]["rule"] == "finite_number"


@pytest.mark.parametrize(
    ("payload", "rule"),
    [
        ({}, "exactly_one_input"),
        ({"machine_id": "m-1", "machine_ids": ["m-2"]}, "exactly_one_input"),
        ({"rows": []}, "too_short"),
        ({"machine_id": "bad id!"}, "string_pattern_mismatch"),
        ([1, 2], "model_type"),
    ],
)
def test_request_shape_errors_are_422(client: TestClient, payload: object, rule: str) -> None:
    body = _error(client.post("/predict", json=payload), 422, "invalid_input")
    assert rule in {d["rule"] for d in body["detail"]}


def test_batch_over_the_limit_is_422(client: TestClient, row: dict) -> None:
    body = _error(
        client.post("/predict", json={"rows": [row] * (MAX_PREDICT_BATCH + 1)}), 422, "invalid_input"
    )
    assert body["detail"][0] == {"field": "rows", "rule": "too_long", "message": body["detail"][0]["message"]}


def test_invalid_json_is_422_not_500(client: TestClient) -> None:
    r = client.post("/predict", content=b'{"features": {', headers={"content-type": "application/json"})
    assert _error(r, 422, "invalid_input")["detail"][0]["rule"] == "json_invalid"


def test_body_over_the_limit_is_413_by_content_length(client: TestClient) -> None:
    r = client.post(
        "/predict", content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"}
    )
    assert _error(r, 413, "body_too_large")["detail"]["max_bytes"] == MAX_BODY_BYTES


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no content-length: chunked transfer
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    _error(r, 413, "body_too_large")


def test_api_key_is_required_when_configured(
    settings: ScoringSettings, layout: DataLayout, row: dict
) -> None:
    app = create_app(
        settings.model_copy(update={"api_key": __import__("pydantic").SecretStr(API_KEY)}), layout=layout
    )
    with TestClient(app) as c:
        _error(c.post("/predict", json={"features": row}), 401, "unauthorized")
        _error(
            c.post("/predict", json={"features": row}, headers={"x-api-key": "wrong"}), 401, "unauthorized"
        )
        _error(c.get("/model"), 401, "unauthorized")
        assert c.post("/predict", json={"features": row}, headers={"x-api-key": API_KEY}).status_code == 200
        auth = {"authorization": f"Bearer {API_KEY}"}
        assert c.post("/predict", json={"features": row}, headers=auth).status_code == 200
        assert c.get("/health/live").status_code == 200  # probes carry no key
        assert c.get("/health/ready").status_code == 200
        assert c.get("/metrics").status_code == 200


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_API_KEY", API_KEY)
    assert ScoringSettings().api_key is not None
    assert ScoringSettings().api_key.get_secret_value() == API_KEY  # type: ignore[union-attr]


def test_no_model_answers_503_with_reason(tmp_path: Path, layout: DataLayout, row: dict) -> None:
    settings = ScoringSettings(model_path=tmp_path / "empty", online_store="none", log_enabled=False)
    with TestClient(create_app(settings, layout=layout)) as c:
        body = _error(c.post("/predict", json={"features": row}), 503, "model_unavailable")
        assert "no model loaded" in body["message"] and "model.onnx" in body["message"]
        ready = c.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["model"]["loaded"] is False
        assert c.get("/model").json()["version"] is None
        assert c.get("/health/live").status_code == 200


def test_machine_id_without_online_store_is_503_and_inline_still_works(client: TestClient, row: dict) -> None:
    _error(client.post("/predict", json={"machine_id": "m-1"}), 503, "online_store_unavailable")
    assert client.post("/predict", json={"features": row}).status_code == 200


def test_model_route_describes_the_serving_model(client: TestClient, bundle: Bundle) -> None:
    info = client.get("/model").json()
    assert info["version"] == bundle.meta.version
    assert info["features"] == list(MODEL_FEATURES)
    assert info["reference_hash"] == bundle.meta.reference_hash
    assert info["threshold"] == pytest.approx(bundle.meta.threshold)
    assert info["loaded_at"]


def test_metrics_count_predictions_and_resolve_sub_millisecond_latency(
    settings: ScoringSettings, layout: DataLayout, row: dict, bundle: Bundle
) -> None:
    registry = CollectorRegistry()
    with TestClient(create_app(settings, layout=layout, registry=registry)) as c:
        c.post("/predict", json={"rows": [row, {k: v * 3 for k, v in row.items()}]})
        c.post("/predict", json={"features": {}})
        text = c.get("/metrics").text
    version = bundle.meta.version
    assert registry.get_sample_value("predmaint_scoring_predictions_total", {"model_version": version}) == 2
    assert registry.get_sample_value("predmaint_scoring_anomalies_total", {"model_version": version}) == 1
    labels = {"route": "/predict", "method": "POST", "status": "200"}
    assert registry.get_sample_value("predmaint_scoring_request_duration_seconds_count", labels) == 1
    assert (
        registry.get_sample_value(
            "predmaint_scoring_request_duration_seconds_bucket", {**labels, "le": "0.0001"}
        )
        is not None
    )
    assert registry.get_sample_value("predmaint_scoring_errors_total", {"code": "invalid_input"}) == 1
    assert (
        "predmaint_inference_log_backlog" in text and "predmaint_inference_log_dropped_records_total" in text
    )
    assert (
        registry.get_sample_value(
            "predmaint_scoring_model_info",
            {"model_version": version, "reference_hash": bundle.meta.reference_hash},
        )
        == 1
    )


def test_every_scored_row_reaches_the_inference_log(
    settings: ScoringSettings, layout: DataLayout, row: dict
) -> None:
    with TestClient(create_app(settings, layout=layout)) as c:
        scores = [
            p["anomaly_score"] for p in c.post("/predict", json={"rows": [row] * 5}).json()["predictions"]
        ]
        scores.append(c.post("/predict", json={"features": row}).json()["anomaly_score"])
    # leaving the client stops the app, which flushes the log
    assert settings.inference_log_dir is not None
    lines = [ln for _, p in list_segments(settings.inference_log_dir) for ln in p.read_text().splitlines()]
    records = [InferenceRecord.model_validate_json(ln) for ln in lines]
    assert [r.anomaly_score for r in records] == pytest.approx(scores)
    assert set(records[0].features) == set(MODEL_FEATURES)
    assert records[0].features["temperature_c_mean"] == pytest.approx(row["temperature_c_mean"], rel=1e-6)


class StalledWriter(InferenceLogWriter):
    """A log writer whose thread never runs (a stalled disk or sidecar volume)."""

    def start(self) -> None:
        return None


def test_a_stalled_log_drops_and_counts_but_predict_answers(
    settings: ScoringSettings, layout: DataLayout, row: dict, tmp_path: Path
) -> None:
    writer = StalledWriter(tmp_path / "stalled", segment_bytes=1 << 20, retained_segments=2, queue_size=3)
    registry = CollectorRegistry()
    with TestClient(create_app(settings, layout=layout, registry=registry, log_writer=writer)) as c:
        started = time.perf_counter()
        statuses = [c.post("/predict", json={"rows": [row, row]}).status_code for _ in range(10)]
        elapsed = time.perf_counter() - started
        ready = c.get("/health/ready").json()
    assert statuses == [200] * 10
    assert elapsed < 5  # nothing waited on the stalled writer (generous bound; not a benchmark)
    assert registry.get_sample_value("predmaint_inference_log_dropped_records_total") == 14
    assert registry.get_sample_value("predmaint_inference_log_backlog") == 3
    log_check = ready["checks"]["inference_log"]
    counts = (log_check["backlog"], log_check["dropped_records"], log_check["submitted_records"])
    assert counts == (3, 14, 20)
    assert ready["status"] == "degraded" and log_check["state"] == "dropping"


def test_unknown_route_and_method_are_4xx(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/predict").status_code == 405


def test_scores_match_the_core(client: TestClient, row: dict, bundle: Bundle) -> None:
    from scoring.core import Scorer

    expected = Scorer.from_bundle(bundle).score(Scorer.from_bundle(bundle).matrix([row]))[0]
    got = client.post("/predict", json={"features": row}).json()["anomaly_score"]
    assert math.isclose(got, expected, rel_tol=1e-6)


def test_azure_monitor_is_configured_only_with_a_connection_string_mock_azure(
    settings: ScoringSettings, layout: DataLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.monitor.opentelemetry as azmon

    import service.telemetry as telemetry

    calls: list[dict] = []
    monkeypatch.setattr(azmon, "configure_azure_monitor", lambda **kw: calls.append(kw))
    monkeypatch.setattr(telemetry, "_configured", False)
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    create_app(settings, layout=layout)
    assert calls == []
    conn = "InstrumentationKey=00000000-0000-0000-0000-000000000000"
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", conn)
    with_otel = ScoringSettings(model_path=settings.model_path, online_store="none", log_enabled=False)
    create_app(with_otel, layout=layout)
    create_app(with_otel, layout=layout)  # once per process
    assert len(calls) == 1 and calls[0]["connection_string"] == conn


def test_module_app_is_built_lazily_from_the_environment(
    bundle: Bundle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import scoring.main as main

    monkeypatch.setenv("SCORING_MODEL_PATH", str(bundle.directory))
    monkeypatch.setenv("SCORING_ONLINE_STORE", "none")
    monkeypatch.setenv("SCORING_INFERENCE_LOG_DIR", str(tmp_path / "log"))
    monkeypatch.setattr(main, "_app", None)
    assert main._app is None  # importing the module built nothing
    with TestClient(main.app) as c:
        assert c.get("/model").json()["version"] == bundle.meta.version
