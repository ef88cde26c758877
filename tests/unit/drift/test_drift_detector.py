"""The detector core: scores equal scipy's, edge cases give a state instead of an exception."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from core.contract import DRIFT_FEATURES
from drift.detector import (
    DriftConfig,
    ReferenceInfo,
    check_drift,
    no_reference,
    snapshot_from_json,
    snapshot_to_json,
    window_info,
)

COLS = list(DRIFT_FEATURES)  # what the monitor compares (the absolute statistics)


def _frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    data = rng.normal(loc=10.0, scale=2.0, size=(rows, len(COLS))) + shift
    return pd.DataFrame(data, columns=COLS)


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_scores_equal_scipy_normalised_wasserstein(rng: np.random.Generator) -> None:
    ref, cur = _frame(rng, 2000), _frame(rng, 400)
    cur[COLS[0]] += 1.5
    cur.loc[:30, COLS[1]] = np.nan  # NaN rows are dropped per column, as scipy sees them
    check = check_drift(ref, cur, columns=COLS)
    assert check.result.status == "ok"
    for column in COLS:
        r, c = ref[column].dropna().to_numpy(), cur[column].dropna().to_numpy()
        expected = wasserstein_distance(r, c) / np.std(r)
        assert check.result.columns[column].score == pytest.approx(expected, abs=1e-9)
        assert check.result.columns[column].current_rows == len(c)


def test_shifted_window_is_drift_and_same_distribution_is_not(rng: np.random.Generator) -> None:
    ref = _frame(rng, 5000)
    same = check_drift(ref, _frame(rng, 1000), columns=COLS).result
    assert same.drift_detected is False
    assert same.drifted_share is not None and same.drifted_share < 0.5
    moved = check_drift(ref, _frame(rng, 1000, shift=1.0), columns=COLS).result
    assert moved.drift_detected is True
    assert moved.drifted_share == 1.0
    assert all(c.drifted and c.score >= c.threshold for c in moved.columns.values())


def test_drift_share_threshold_is_inclusive(rng: np.random.Generator) -> None:
    ref, cur = _frame(rng, 3000), _frame(rng, 1000)
    for column in COLS[:4]:  # exactly half of the 8 columns
        cur[column] += 2.0
    result = check_drift(ref, cur, columns=COLS, config=DriftConfig(drift_share=0.5)).result
    assert result.drifted_share == pytest.approx(0.5)
    assert result.drift_detected is True


def test_empty_and_small_windows_give_no_verdict(rng: np.random.Generator) -> None:
    ref = _frame(rng, 1000)
    empty = check_drift(ref, ref.iloc[:0], columns=COLS).result
    assert (empty.status, empty.drift_detected) == ("no_verdict", False)
    assert "0 rows" in (empty.reason or "")
    small = check_drift(ref, ref.iloc[:10], columns=COLS, config=DriftConfig(min_rows=50)).result
    assert small.status == "no_verdict" and "10 rows" in (small.reason or "")


def test_nan_inf_constant_and_missing_columns_are_excluded_with_reasons(rng: np.random.Generator) -> None:
    ref, cur = _frame(rng, 1000), _frame(rng, 500)
    ref[COLS[0]] = 3.0  # constant in the reference
    cur[COLS[0]] = 9.0  # ... a shift that Evidently alone would call a huge drift
    cur[COLS[1]] = np.nan  # all NaN in the window
    cur[COLS[2]] = np.inf  # infinite counts as missing
    cur = cur.drop(columns=[COLS[3]])
    result = check_drift(ref, cur, columns=COLS).result
    assert result.status == "ok"
    assert set(result.excluded) == {COLS[0], COLS[1], COLS[2], COLS[3]}
    assert "constant" in result.excluded[COLS[0]]
    assert "finite values" in result.excluded[COLS[1]]
    assert "missing in the current window" in result.excluded[COLS[3]]
    assert set(result.columns) == set(COLS[4:])
    assert result.drift_detected is False


def test_no_comparable_column_and_no_reference(rng: np.random.Generator) -> None:
    ref, cur = _frame(rng, 200), _frame(rng, 200)
    cur[:] = np.nan
    result = check_drift(ref, cur, columns=COLS).result
    assert result.status == "no_verdict" and result.reason == "no column can be compared"
    assert len(result.excluded) == len(COLS)
    answer = no_reference(DriftConfig(), window_info(cur)).result
    assert (
        answer.status == "no_verdict" and answer.reference is None and "no reference" in (answer.reason or "")
    )


def test_reference_info_and_window_times_are_in_the_answer(rng: np.random.Generator) -> None:
    ref, cur = _frame(rng, 500), _frame(rng, 100)
    info = ReferenceInfo(model_version="3", reference_hash="sha256:abc", rows=500, source="test")
    window = window_info(cur, [1_700_000_000.0, 1_700_000_600.0])
    result = check_drift(ref, cur, columns=COLS, reference_info=info, window=window).result
    dumped = result.model_dump(mode="json")
    assert dumped["reference"]["model_version"] == "3"
    assert dumped["reference"]["reference_hash"] == "sha256:abc"
    assert dumped["window"]["rows"] == 100
    assert dumped["window"]["first_ts"].startswith("2023-11-14T22:13:20")


def test_snapshot_round_trips_through_json_and_renders_html(rng: np.random.Generator) -> None:
    ref, cur = _frame(rng, 500), _frame(rng, 200, shift=0.5)
    check = check_drift(ref, cur, columns=COLS, config=DriftConfig(engine="evidently"))
    assert check.snapshot is not None
    restored = snapshot_from_json(snapshot_to_json(check.snapshot))
    values = [m["value"] for m in restored.dict()["metrics"]]
    assert values == [m["value"] for m in check.snapshot.dict()["metrics"]]
    html = check.html()
    assert html is not None and "<html" in html.lower()
    assert COLS[0] in html


def test_scipy_engine_gives_the_same_scores_and_verdict(rng: np.random.Generator) -> None:
    ref, cur = _frame(rng, 1000), _frame(rng, 300, shift=0.3)
    slow = check_drift(ref, cur, columns=COLS).result
    fast = check_drift(ref, cur, columns=COLS, config=DriftConfig(engine="scipy")).result
    assert fast.drift_detected == slow.drift_detected
    assert fast.drifted_share == slow.drifted_share
    for column in COLS:
        assert fast.columns[column].score == pytest.approx(slow.columns[column].score, abs=1e-12)


def test_default_legacy_engine_gives_the_new_api_scores_and_verdict(rng: np.random.Generator) -> None:
    # The default engine is Evidently's legacy Report (fast enough for the bench target); it must
    # give exactly the scores and verdict of the new-API Report the specification names.
    ref, cur = _frame(rng, 1000), _frame(rng, 300, shift=0.3)
    assert DriftConfig().engine == "evidently-legacy"
    legacy = check_drift(ref, cur, columns=COLS).result
    new_api = check_drift(ref, cur, columns=COLS, config=DriftConfig(engine="evidently")).result
    assert legacy.drift_detected == new_api.drift_detected
    assert legacy.drifted_share == new_api.drifted_share
    for column in COLS:
        assert legacy.columns[column].score == pytest.approx(new_api.columns[column].score, abs=1e-12)
        assert legacy.columns[column].drifted == new_api.columns[column].drifted
