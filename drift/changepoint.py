"""Where in a drifted window the change began: the onset time a changepoint protocol scores.

A check says *that* its window differs from the reference, not *when* the difference began: the
window ends up to one window (more while the sustained verdict waits) after the change. The start is
estimated the way a changepoint detector locates a shift in mean with the pre-change level known
(the reference): with each column standardised by the reference, ``z = (x - mean_ref) / std_ref``,
the log-likelihood ratio of "the mean moved at row ``tau``" is proportional to
``sum_c (sum_{t >= tau} z_ct)^2 / (rows - tau)``; the estimate is its argmax over the window's rows
(Gaussian, unit variance; Hinkley 1970). Only the columns the check found drifted are used, so the
sensors that did not move add no noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import numpy as np

from drift.calibration import STD_FLOOR

if TYPE_CHECKING:
    import pandas as pd

MIN_TAIL_ROWS: Final = 5
"""The changed part must hold at least this many rows: a shorter tail is one outlier, not a level."""


def change_start(reference: pd.DataFrame, window: pd.DataFrame, columns: Sequence[str]) -> int:
    """Row of ``window`` (0-based) where a shift in mean against ``reference`` most likely began."""
    rows = len(window)
    usable = [c for c in columns if c in reference.columns and c in window.columns]
    if rows <= MIN_TAIL_ROWS or not usable:
        return 0
    ref = reference[usable].to_numpy("float64", na_value=np.nan)
    cur = window[usable].to_numpy("float64", na_value=np.nan)
    mean = np.nanmean(ref, axis=0)
    std = np.maximum(np.nanstd(ref, axis=0), STD_FLOOR)
    z = np.nan_to_num((cur - mean) / std)
    tails = np.cumsum(z[::-1], axis=0)[::-1]  # tails[tau] = sum over rows tau.. of z
    lengths = np.arange(rows, 0, -1, dtype="float64")[:, None]
    ratio = (tails**2 / lengths).sum(axis=1)[: rows - MIN_TAIL_ROWS + 1]
    return int(np.argmax(ratio))
