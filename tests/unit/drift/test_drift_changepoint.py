"""The onset a changepoint protocol scores: where in a drifted window the change began."""

from __future__ import annotations

import numpy as np
import pandas as pd

from drift.changepoint import MIN_TAIL_ROWS, change_start

COLS = ["a", "b", "c"]


def _noise(
    rng: np.random.Generator, rows: int, column: int = 0, at: int = 0, by: float = 0.0
) -> pd.DataFrame:
    x = rng.normal(size=(rows, len(COLS)))
    x[at:, column] += by
    return pd.DataFrame(x, columns=COLS)


def test_a_level_step_inside_the_window_is_located_within_a_few_rows() -> None:
    rng = np.random.default_rng(5)
    reference = _noise(rng, 400)
    for step_at in (0, 12, 35, 50):
        window = _noise(rng, 60, column=0, at=step_at, by=3.0)
        assert abs(change_start(reference, window, ["a"]) - step_at) <= 3


def test_columns_that_did_not_move_do_not_pull_the_estimate() -> None:
    rng = np.random.default_rng(6)
    reference = _noise(rng, 400)
    window = _noise(rng, 60, column=1, at=40, by=4.0)
    assert abs(change_start(reference, window, ["b"]) - 40) <= 3
    assert abs(change_start(reference, window, COLS) - 40) <= 5


def test_a_change_in_the_last_rows_is_not_read_from_a_single_outlier() -> None:
    rng = np.random.default_rng(8)
    reference = _noise(rng, 400)
    window = _noise(rng, 60, column=0, at=59, by=50.0)
    assert change_start(reference, window, ["a"]) <= len(window) - MIN_TAIL_ROWS
    assert change_start(reference, window.iloc[:3], ["a"]) == 0
