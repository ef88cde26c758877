"""``POST /drift`` bodies: the request model, the per-side caps, the cost cap (``drift.cost``), and
the check each body asks for (the tailed window, rows against the serving reference, or two ad-hoc
datasets)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

from core.bundle import frame_hash
from core.errors import InvalidInput
from drift.calibration import calibrate
from drift.cost import estimated_cost_s, refuse_if_too_costly
from drift.detector import DriftCheck, ReferenceInfo, check_drift, window_info
from drift.monitor import DriftMonitor
from drift.settings import DriftSettings

if TYPE_CHECKING:
    import pandas as pd

MAX_ABS_VALUE: Final = 1e12
"""Largest magnitude a ``POST /drift`` value may have: far beyond any sensor's range, and squares of
it stay far from float overflow (``1e308`` once answered 500 from the histogram code)."""
Value = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE)]
Row = dict[str, Value | None]


class DriftRequest(BaseModel):
    """Body of ``POST /drift``. Rows are objects of column name to number (null = missing)."""

    model_config = ConfigDict(extra="forbid")

    current: list[Row] | None = None
    reference: list[Row] | None = None


def frame(rows: list[Row], field: str, settings: DriftSettings) -> pd.DataFrame:
    """One side as a float frame, within the row and column caps (422 naming the side otherwise)."""
    import pandas as pd

    if len(rows) > settings.max_request_rows:
        raise InvalidInput.one(
            field, "too_long", f"at most {settings.max_request_rows} rows, got {len(rows)}"
        )
    columns = len({name for row in rows for name in row})
    if len(rows) * columns > settings.max_request_cells:
        raise InvalidInput.one(
            field,
            "too_many_cells",
            f"at most {settings.max_request_cells} rows x columns, got {len(rows)} x {columns}",
        )
    data = pd.DataFrame.from_records(rows).astype("float64") if rows else pd.DataFrame()
    if data.shape[1] > settings.max_request_columns:
        raise InvalidInput.one(
            field, "too_many_columns", f"at most {settings.max_request_columns} columns, got {data.shape[1]}"
        )
    return data


def run(body: DriftRequest, monitor: DriftMonitor, settings: DriftSettings) -> DriftCheck:
    """The check a body asks for (blocking: run it off the event loop)."""
    if body.current is None:
        if body.reference is not None:
            raise InvalidInput.one("current", "missing", "required when reference is given")
        monitor.tail()
        return monitor.check_window()
    current = frame(body.current, "current", settings)
    if body.reference is None:
        serving = monitor.reference
        if serving is not None:  # its calibration is the sidecar's own, cached: the check alone
            cost = estimated_cost_s(len(serving.frame), len(current), len(serving.features))
            shape = {"reference_rows": len(serving.frame), "current_rows": len(current)}
            refuse_if_too_costly(
                cost, settings.max_request_cost_s, {**shape, "columns": len(serving.features)}
            )
        return monitor.check_rows(current)
    reference = frame(body.reference, "reference", settings)
    numeric = [c for c in reference.columns if c in current.columns]
    columns = len(set(reference.columns) | set(current.columns))
    cost = estimated_cost_s(
        len(reference),
        len(current),
        columns,
        calibrated_columns=len(numeric) if monitor.calibrated else 0,
        draws=monitor.calibration_draws,
    )
    shape = {"reference_rows": len(reference), "current_rows": len(current), "columns": columns}
    refuse_if_too_costly(cost, settings.max_request_cost_s, shape)
    info = ReferenceInfo(
        model_version=None,
        reference_hash=frame_hash(reference[numeric]) if numeric else "sha256:",
        rows=len(reference),
        source="request",
    )
    # Ad hoc: calibrated on the reference given, for this window size, the same way as the
    # sidecar's own (rows in the order sent; not cached: the reference is new each time).
    calibration = (
        calibrate(
            reference[numeric],
            numeric,
            len(current),
            reference_hash=info.reference_hash,
            false_alarm_probability=monitor.false_alarm_probability,
            draws=monitor.calibration_draws,
        )
        if monitor.calibrated and numeric
        else None
    )
    return check_drift(
        reference,
        current,
        config=monitor.config,
        reference_info=info,
        window=window_info(current),
        calibration=calibration,
    )
