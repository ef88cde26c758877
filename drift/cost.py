"""What a ``POST /drift`` check will cost, estimated from its shape before any work is done, so that
a request that would cost more than ``DRIFT_MAX_REQUEST_COST_S`` is refused (422 ``too_costly``)
instead of holding a core. The row and cell caps bound the shape; they do not bound the cost, because
an ad-hoc reference is calibrated by resampling it (the largest request within the caps, 625 rows x
32 columns a side, cost 1.28 s of CPU).

The model is the sum of two measured parts (CPU seconds on the 2-core VM the project is measured on;
``bench/bench_faults.py`` compares estimate and measurement, shape by shape):

- **the check** (Evidently or scipy, per column): a fixed part, a part per column, and a part per
  value compared, ``columns x (reference rows + current rows)``;
- **the calibration** of an ad-hoc reference (``drift.calibration``): per column, ``resamples``
  Wasserstein distances of a stretch against the rest of the reference, each linear in the
  reference's rows: ``columns x resamples x reference rows``. Checks against the serving reference
  reuse its cached calibration (computed once per window size by the sidecar itself), so only the
  check part counts there.

A slower machine makes every part slower by about the same factor: the cap is a budget in this
machine's seconds, and the constants say where it was measured.
"""

from __future__ import annotations

from typing import Final

from drift.calibration import MIN_BLOCK_ROWS, stretch_rows
from drift.errors import DriftError

CHECK_FIXED_S: Final = 0.03
CHECK_PER_COLUMN_S: Final = 0.010
CHECK_PER_VALUE_S: Final = 4.5e-7
"""Per value compared: columns x (reference + current rows)."""
CALIBRATION_PER_VALUE_RESAMPLE_S: Final = 1.15e-7
"""Per reference value per resample (one Wasserstein distance of a stretch against the rest)."""


class TooCostly(DriftError):
    """The check a ``POST /drift`` body asks for is estimated to cost more than the sidecar allows."""

    status = 422
    code = "too_costly"

    def __init__(self, estimated_s: float, max_s: float, shape: dict[str, int]) -> None:
        super().__init__(
            f"this check would cost about {estimated_s:.2f} s of CPU, more than {max_s:g} s "
            "(DRIFT_MAX_REQUEST_COST_S): send fewer rows or columns",
            {"estimated_s": round(estimated_s, 3), "max_s": max_s, **shape},
        )


def resamples(reference_rows: int, current_rows: int, draws: int) -> int:
    """Distinct stretches ``drift.calibration`` draws from a reference (its block rule)."""
    block = stretch_rows(current_rows, reference_rows)
    return max(1, min(draws, reference_rows - block + 1))


def estimated_cost_s(
    reference_rows: int,
    current_rows: int,
    columns: int,
    *,
    calibrated_columns: int = 0,
    draws: int = 0,
) -> float:
    """CPU seconds of a check of ``columns`` columns; ``calibrated_columns`` of them calibrated on
    this reference with ``draws`` resamples (0: the calibration is cached or not used)."""
    check = CHECK_FIXED_S + columns * (
        CHECK_PER_COLUMN_S + CHECK_PER_VALUE_S * (reference_rows + current_rows)
    )
    calibration = 0.0
    if calibrated_columns and draws and reference_rows >= 2 * MIN_BLOCK_ROWS:
        n = resamples(reference_rows, current_rows, draws)
        calibration = CALIBRATION_PER_VALUE_RESAMPLE_S * calibrated_columns * n * reference_rows
    return check + calibration


def refuse_if_too_costly(estimated_s: float, max_s: float, shape: dict[str, int]) -> None:
    if estimated_s > max_s:
        raise TooCostly(estimated_s, max_s, shape)
