"""The sidecar's verdict on the simulator: each drift scenario is detected, the no-drift control is not.

A 50-machine fleet: 14 days of history train a real bundle (TRAIN's ``build_bundle``, windows near
failures left out as the training pipeline does); live windows are 24 h of hourly features (1,200
rows, the sidecar's default window), scored by the bundle's ONNX graph so the rows the model flags are
left out exactly as the sidecar does (``drift.monitor.select_rows``), then checked with the sidecar's
default settings: thresholds calibrated from the bundle's reference for a one-day window. The
false-alarm rate over 20 control days is printed and asserted low.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from aml.bundle_builder import build_bundle
from aml.steps.prepare import near_failure_mask
from core.bundle import Bundle
from core.contract import DRIFT_FEATURES, EVENT_TIMESTAMP
from drift.calibration import block_rows_for, calibrate
from drift.detector import DriftConfig, check_drift
from drift.monitor import select_rows
from drift.settings import DriftSettings
from features.relative import windows_of
from simulator.fleet import FleetConfig, FleetSimulator
from simulator.scenarios import DriftScenario

MACHINES = 50
REFERENCE_DAYS = 14
CONTROL_WINDOWS = 20
SEED = 1
COLS = list(DRIFT_FEATURES)


def _windows(drift: DriftScenario | None, days: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    config = FleetConfig(
        machines=MACHINES, days=days, seed=SEED, drift=drift, drift_at_days=REFERENCE_DAYS if drift else None
    )
    result = FleetSimulator(config).history()
    windows = windows_of(result.readings).sort_values(EVENT_TIMESTAMP).reset_index(drop=True)
    return windows, result.failures, result.maintenance


@pytest.fixture(scope="module")
def control() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return _windows(None, REFERENCE_DAYS + CONTROL_WINDOWS + 0.5)


@pytest.fixture(scope="module")
def bundle(
    control: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Bundle:
    windows, failures, maintenance = control
    start = windows[EVENT_TIMESTAMP].min()
    history = windows[windows[EVENT_TIMESTAMP] < start + timedelta(days=REFERENCE_DAYS)]
    healthy = history[~near_failure_mask(history, failures, maintenance, horizon_h=7 * 24)]
    return build_bundle(healthy, tmp_path_factory.mktemp("bundle") / "model", n_estimators=50, seed=0)


def _sidecar_verdict(
    bundle: Bundle, window: pd.DataFrame, config: DriftConfig
) -> tuple[bool, dict[str, float], int]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(bundle.onnx_path), providers=["CPUExecutionProvider"])
    x = window[bundle.meta.features].to_numpy(dtype=np.float32)
    scores = np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0]).reshape(-1)
    flags = (scores >= bundle.meta.threshold).tolist()
    settings = DriftSettings()
    frame, info = select_rows(
        window[COLS].reset_index(drop=True),
        [t.timestamp() for t in window[EVENT_TIMESTAMP]],
        flags,
        exclude_anomalies=settings.exclude_anomalies,
        max_anomaly_share=settings.max_anomaly_share,
    )
    reference = bundle.load_reference()
    calibration = calibrate(
        reference,
        COLS,
        settings.window_rows,
        reference_hash=bundle.meta.reference_hash,
        false_alarm_probability=settings.false_alarm_probability,
        block_rows=block_rows_for(
            settings.window_rows, len(reference), settings.window_hours, bundle.meta.reference_hours
        ),
    )
    result = check_drift(
        reference, frame, columns=COLS, config=config, window=info, calibration=calibration
    ).result
    assert result.status == "ok", result.reason
    return (
        result.drift_detected,
        {c: round(v.score, 3) for c, v in result.columns.items()},
        info.anomalies_excluded,
    )


def _day_windows(windows: pd.DataFrame, first_day: float, count: int) -> list[pd.DataFrame]:
    start = windows[EVENT_TIMESTAMP].min() + timedelta(days=first_day)
    out = []
    for i in range(count):
        lo, hi = start + timedelta(days=i), start + timedelta(days=i + 1)
        out.append(windows[(windows[EVENT_TIMESTAMP] >= lo) & (windows[EVENT_TIMESTAMP] < hi)])
    return out


def test_no_drift_control_raises_few_false_alarms(
    control: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], bundle: Bundle
) -> None:
    config = DriftSettings().drift_config.model_copy(update={"engine": "scipy"})  # same scores, faster
    windows = _day_windows(control[0], REFERENCE_DAYS, CONTROL_WINDOWS)
    alarms = []
    for i, window in enumerate(windows):
        assert len(window) >= DriftSettings().window_rows * 0.9
        detected, scores, excluded = _sidecar_verdict(bundle, window, config)
        alarms.append(detected)
        top = sorted(scores.items(), key=lambda kv: -kv[1])[:2]
        print(f"control day {i:2d}: drift={detected} excluded={excluded:3d} top={top}")
    rate = sum(alarms) / len(alarms)
    print(f"false-alarm rate: {sum(alarms)}/{len(alarms)} = {rate:.2f}")
    assert sum(alarms) <= 1, f"{sum(alarms)} false alarms in {len(alarms)} control windows"


@pytest.mark.parametrize("scenario", list(DriftScenario))
def test_each_drift_scenario_is_detected(scenario: DriftScenario, bundle: Bundle) -> None:
    windows, _, _ = _windows(scenario, REFERENCE_DAYS + 1.5)
    # the day after the onset (every ramp is over by then); Evidently itself, as the sidecar runs it
    (window,) = _day_windows(windows, REFERENCE_DAYS + 0.3, 1)
    detected, scores, excluded = _sidecar_verdict(bundle, window, DriftSettings().drift_config)
    print(f"{scenario}: drift={detected} excluded={excluded} scores={scores}")
    assert detected, scores
