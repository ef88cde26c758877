"""Every scored row names the features (and sensors) that drove its score: in the /predict answer,
the inference log and score.py (AzureML); a bundle without the attribution graph still scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.bundle import ATTRIBUTION_ONNX_FILE, Bundle, load_bundle
from core.contract import FEATURE_SENSORS, MODEL_FEATURES, SENSOR_NAMES
from core.inference_log import InferenceRecord, list_segments
from core.layout import DataLayout
from scoring.explanations import TOP_FEATURES, to_score_units, top_features
from scoring.main import create_app
from scoring.schemas import FeatureRow
from scoring.settings import ScoringSettings
from tests.synthetic_windows import training_frame
from tests.unit.scoring.test_score_script import server  # noqa: F401 - the score.py fixture


def extreme_rows() -> list[dict[str, float]]:
    """One row per model feature: an ordinary row with that one feature far out (30 training
    standard deviations, kept inside the contract's bounds), every other feature ordinary."""
    frame = training_frame()
    base = frame.median()
    fields = FeatureRow.model_fields
    rows = []
    for name in MODEL_FEATURES:
        row = {str(k): float(v) for k, v in base.items()}
        limits = {type(m).__name__: m for m in fields[name].metadata}
        high = float(limits["Le"].le) if "Le" in limits else np.inf
        row[name] = float(min(base[name] + 30 * frame[name].std(), high))
        rows.append(row)
    return rows


def test_every_model_feature_names_a_sensor() -> None:
    assert set(FEATURE_SENSORS) >= set(MODEL_FEATURES)
    assert {FEATURE_SENSORS[f] for f in MODEL_FEATURES} <= set(SENSOR_NAMES)


def test_the_extreme_feature_comes_first_with_its_sensor(client: TestClient) -> None:
    r = client.post("/predict", json={"rows": extreme_rows()})
    assert r.status_code == 200, r.text
    for name, p in zip(MODEL_FEATURES, r.json()["predictions"], strict=True):
        top = p["top_features"]
        assert len(top) == min(TOP_FEATURES, len(MODEL_FEATURES))
        assert top[0]["feature"] == name and top[0]["sensor"] == FEATURE_SENSORS[name]
        values = [f["contribution"] for f in top]
        assert values == sorted(values, reverse=True) and values[0] > 0


def test_single_row_answer_and_model_info_carry_the_explanation(client: TestClient) -> None:
    row = extreme_rows()[0]
    one = client.post("/predict", json={"features": row}).json()
    assert one["top_features"][0]["feature"] == MODEL_FEATURES[0]
    info = client.get("/model").json()
    assert info["attribution_baseline"] == pytest.approx(0.5)


def test_the_inference_log_carries_the_answers_top_features(
    settings: ScoringSettings, layout: DataLayout
) -> None:
    app = create_app(settings, layout=layout, registry=CollectorRegistry())
    with TestClient(app) as c:
        answered = c.post("/predict", json={"rows": extreme_rows()}).json()["predictions"]
    assert settings.inference_log_dir is not None
    records = [
        InferenceRecord.model_validate_json(line)
        for _, path in list_segments(settings.inference_log_dir)
        for line in path.read_text().splitlines()
    ]
    assert [r.top_features for r in records] == [p["top_features"] for p in answered]


def test_score_py_explains_like_the_facade(server, client: TestClient) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    rows = extreme_rows()
    aml = server.post("/score", data=json.dumps({"rows": rows}), content_type="application/json").get_json()
    facade = client.post("/predict", json={"rows": rows}).json()
    assert [p["top_features"] for p in aml["predictions"]] == [
        p["top_features"] for p in facade["predictions"]
    ]


def test_a_bundle_without_the_attribution_graph_still_scores(
    bundle: Bundle, tmp_path: Path, layout: DataLayout
) -> None:
    old = tmp_path / "old-bundle"
    shutil.copytree(bundle.directory, old)
    (old / ATTRIBUTION_ONNX_FILE).unlink()
    assert load_bundle(old).attribution_onnx_path is None
    settings = ScoringSettings(model_path=old, online_store="none", log_enabled=False)
    with TestClient(create_app(settings, layout=layout, registry=CollectorRegistry())) as c:
        r = c.post("/predict", json={"rows": extreme_rows()[:2]})
    assert r.status_code == 200
    assert [set(p) for p in r.json()["predictions"]] == [{"anomaly_score", "is_anomaly"}] * 2


def test_top_features_rank_rescale_and_name() -> None:
    features = list(MODEL_FEATURES)
    rng = np.random.default_rng(0)
    credits = rng.normal(0, 0.1, (50, len(features)))
    credits[:5] = 0.0  # a row exactly at the baseline: the factor's limit, no division by zero
    scores = 0.5 * 2.0 ** credits.sum(1)
    full = to_score_units(scores, credits, 0.5)
    np.testing.assert_allclose(full.sum(1), scores - 0.5, atol=1e-12)
    for i, top in enumerate(top_features(scores, credits, features, 0.5)):
        if i < 5:  # all zero: any order, all contributions 0
            assert [f["contribution"] for f in top] == [0.0] * len(top)
            continue
        best = np.argsort(-full[i], kind="stable")[: len(top)]
        assert [f["feature"] for f in top] == [features[j] for j in best]
        assert [f["contribution"] for f in top] == pytest.approx(full[i][best].tolist(), abs=1e-12)
        assert all(f["sensor"] == FEATURE_SENSORS[f["feature"]] for f in top)


def test_an_anomalous_rows_answer_is_flagged_and_names_its_sensor_first(client: TestClient) -> None:
    """A machine running hot against its own baseline and its peers (a cooling fault): /predict flags
    it, and its top features say it is the temperature sensor, with the contributions that made it."""
    extreme = dict(zip(MODEL_FEATURES, extreme_rows(), strict=True))
    ordinary = {str(k): float(v) for k, v in training_frame().median().items()}
    hot = dict(ordinary)
    for name in (n for n in MODEL_FEATURES if FEATURE_SENSORS[n] == "temperature_c"):
        if name != "temperature_c_std":  # hot, not erratic
            hot[name] = extreme[name][name]
    answer = client.post("/predict", json={"rows": [ordinary, hot]}).json()
    calm, flagged = answer["predictions"]
    assert calm["is_anomaly"] is False, calm
    assert flagged["is_anomaly"] is True and flagged["anomaly_score"] >= answer["threshold"], flagged
    top = flagged["top_features"]
    assert top[0]["sensor"] == "temperature_c" and top[0]["contribution"] > 0, top
    assert all(f["sensor"] == "temperature_c" for f in top), top
