"""score.py through azureml-inference-server-http's own in-process Flask app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.bundle import Bundle
from core.contract import MAX_BODY_BYTES, MODEL_FEATURES

SCORE_PY = Path(__file__).resolve().parents[3] / "scoring" / "score.py"


@pytest.fixture
def server(bundle: Bundle, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AZUREML_ENTRY_SCRIPT", str(SCORE_PY))
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(bundle.directory.parent))  # the bundle sits one level down
    monkeypatch.setenv("PREDMAINT_MODEL_VERSION", "7")
    from azureml_inference_server_http.server import create_app
    from azureml_inference_server_http.server.config import config

    monkeypatch.setattr(config, "entry_script", str(SCORE_PY))
    monkeypatch.setattr(config, "azureml_model_dir", str(bundle.directory.parent))
    app = create_app.create()
    yield app.test_client()


def test_rows_are_scored_like_the_facade(server, row: dict, bundle: Bundle) -> None:
    r = server.post(
        "/score",
        data=json.dumps({"rows": [row, {k: v * 3 for k, v in row.items()}]}),
        content_type="application/json",
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["model_version"] == "7"
    assert body["threshold"] == pytest.approx(bundle.meta.threshold)
    assert [p["is_anomaly"] for p in body["predictions"]] == [False, True]


def test_one_row_answers_the_flat_shape(server, row: dict) -> None:
    r = server.post("/score", data=json.dumps({"features": row}), content_type="application/json")
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"anomaly_score", "is_anomaly", "model_version", "threshold", "top_features"}
    assert [f["feature"] for f in body["top_features"]][:1] != []  # explained on AzureML too


@pytest.mark.parametrize(
    ("payload", "field", "rule"),
    [
        ('{"features": {}}', f"features.{MODEL_FEATURES[0]}", "missing"),
        ('{"rows": []}', "rows", "too_short"),
        ('{"machine_id": "m-1"}', "machine_id", "extra_forbidden"),
        ("not json", "body", "json_invalid"),
        ('{"features": {"temperature_c_mean": NaN}}', "features.temperature_c_mean", "finite_number"),
    ],
)
def test_bad_input_is_a_json_4xx_not_a_500(server, payload: str, field: str, rule: str) -> None:
    r = server.post("/score", data=payload, content_type="application/json")
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["error"] == "invalid_input"
    assert {"field": field, "rule": rule} in [
        {"field": d["field"], "rule": d["rule"]} for d in body["detail"]
    ]


def test_oversized_body_is_413(server) -> None:
    r = server.post("/score", data=" " * (MAX_BODY_BYTES + 1), content_type="application/json")
    assert r.status_code == 413
    assert r.get_json()["error"] == "body_too_large"


def test_health_route_answers(server) -> None:
    assert server.get("/").status_code == 200
