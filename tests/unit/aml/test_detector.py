"""The reusable detector: any numeric frame, causal windows, quantile threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aml.detector import Detector, DetectorConfig, DetectorError, window_features


def sensor_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"pressure": 1 + 0.01 * rng.standard_normal(n), "flow": 30 + rng.standard_normal(n)})


def test_window_features_only_look_back() -> None:
    frame = pd.DataFrame({"x": [0.0, 0.0, 0.0, 10.0]})
    out = window_features(frame, ["x"], 2, ("mean", "max"))
    assert out["x_mean"].tolist() == [0.0, 0.0, 0.0, 5.0]
    assert out["x_max"].iloc[2] == 0.0


def test_threshold_is_the_training_score_quantile() -> None:
    det = Detector(DetectorConfig(window=5, n_estimators=30, threshold_quantile=0.95)).fit(sensor_frame(400))
    assert det.training_scores is not None
    assert np.mean(det.training_scores >= det.threshold) == pytest.approx(0.05, abs=0.01)
    assert det.feature_names == [
        "pressure_mean",
        "pressure_std",
        "pressure_max",
        "flow_mean",
        "flow_std",
        "flow_max",
    ]


def test_a_shifted_sensor_is_flagged() -> None:
    det = Detector(DetectorConfig(window=5, n_estimators=50, threshold_quantile=0.99)).fit(sensor_frame(400))
    test = sensor_frame(200, seed=1)
    test.loc[100:, "pressure"] += 0.2
    flags = det.predict(test)
    # IsolationForest splits on random features, so not every shifted window is caught alone
    assert flags[110:].mean() > 0.5
    assert flags[:95].mean() < 0.1
    scores = det.score(test)
    assert scores[110:].mean() > scores[:95].mean() + 0.1


def test_bad_input_is_a_domain_error() -> None:
    with pytest.raises(DetectorError):
        Detector(DetectorConfig(threshold_quantile=1.5))
    with pytest.raises(DetectorError, match="no column"):
        Detector(columns=["nope"]).fit(sensor_frame(10))
