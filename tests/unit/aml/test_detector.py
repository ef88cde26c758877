"""The reusable detector: any numeric frame, causal windows, quantile threshold."""

from __future__ import annotations

from dataclasses import replace

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


def shifted(n: int = 200, at: int = 100) -> pd.DataFrame:
    test = sensor_frame(n, seed=1)
    test.loc[at:, "pressure"] += 0.2  # 20 standard deviations
    return test


def test_a_shifted_sensor_scores_higher_with_the_forest() -> None:
    det = Detector(DetectorConfig(window=5, n_estimators=50, threshold_quantile=0.99)).fit(sensor_frame(400))
    test = shifted()
    # a point beyond the training range isolates like the most extreme training point, however far
    # out it is, so the forest's flags on a shift of one column out of two are not assured
    scores = det.score(test)
    assert scores[110:].mean() > scores[:95].mean() + 0.1
    assert det.predict(test)[:95].mean() < 0.1


def test_max_deviation_flags_every_shifted_window_and_names_the_sensor() -> None:
    cfg = DetectorConfig(window=(5, 20), stats=("mean",), scorer="max_deviation", threshold_quantile=1.0)
    det = Detector(cfg).fit(sensor_frame(400))
    assert det.feature_names == ["pressure_mean_5", "flow_mean_5", "pressure_mean_20", "flow_mean_20"]
    test = shifted()
    flags = det.predict(test)
    assert flags[105:].all()
    assert not flags[20:100].any()  # the first rows of a fresh frame have short windows
    assert set(det.top_feature(test)[105:]) <= {"pressure_mean_5", "pressure_mean_20"}


def test_the_margin_scales_the_threshold_and_warm_up_rows_do_not_fit() -> None:
    base = DetectorConfig(window=(5, 30), stats=("mean",), scorer="max_deviation", threshold_quantile=1.0)
    frame = sensor_frame(400)
    one = Detector(base).fit(frame)
    three = Detector(replace(base, threshold_margin=3.0)).fit(frame)
    # rows 0..28 have no full 30-row window: they neither fit nor set the threshold
    assert one.training_scores is not None and len(one.training_scores) == 400 - 29
    assert one.threshold == pytest.approx(float(one.training_scores.max()))
    assert three.threshold == pytest.approx(3 * one.threshold)


def test_a_constant_training_column_still_has_a_spread() -> None:
    frame = sensor_frame(100)
    frame["valve"] = 1.0
    det = Detector(DetectorConfig(window=3, stats=("mean",), scorer="max_deviation")).fit(frame)
    test = sensor_frame(20, seed=2)
    test["valve"] = 1.0
    test.loc[10:, "valve"] = 0.0
    assert det.predict(test)[12:].all()
    assert det.top_feature(test)[15] == "valve_mean"


def test_bad_input_is_a_domain_error() -> None:
    with pytest.raises(DetectorError):
        Detector(DetectorConfig(threshold_quantile=1.5))
    with pytest.raises(DetectorError, match="threshold_margin"):
        Detector(DetectorConfig(threshold_margin=0.5))
    with pytest.raises(DetectorError, match="top_feature"):
        Detector(DetectorConfig(window=3)).fit(sensor_frame(10)).top_feature(sensor_frame(10))
    with pytest.raises(DetectorError, match="no column"):
        Detector(columns=["nope"]).fit(sensor_frame(10))
