"""The drift check: Evidently's ``DataDriftPreset`` (normalised Wasserstein) on a reference and a window.

A column's score is ``wasserstein_distance(ref, cur) / std(ref)`` (population std) computed on its
finite values; it has drifted when ``score >= threshold``. Two ways to decide:

- **calibrated** (given a :class:`drift.calibration.Calibration`): each column has its own threshold,
  estimated from the reference for the window size in use, and the dataset has drifted when any
  column reaches its threshold; the calibration's per-check false-alarm probability covers all
  columns together (Šidák). Evidently gets the per-column thresholds (``per_column_threshold``), so
  its HTML report shows the same verdicts.
(Past 400 lines: the three engines, Evidently new, Evidently legacy and scipy, must give the same
scores and verdicts, and keeping them beside each other is what the parity tests check.)

- **fixed** (no calibration): one ``threshold`` for every column and dataset drift when the share of
  drifted columns is ``>= drift_share``, Evidently's own rule. Kept for comparison.

This module adds the edge cases Evidently turns into exceptions or into false alarms:

- **too few rows** in the window or the reference: no verdict, with the counts in ``reason``;
- **NaN / infinity**: non-finite values are dropped per column (Evidently does the same with NaN);
  a column with fewer than ``min_rows`` finite values on either side is excluded, with a reason;
- **constant reference column**: its normalised distance is undefined (Evidently floors the std at
  0.001, so any shift looks like a huge drift). Such a column is **excluded from the verdict** and
  listed in ``excluded`` with the reason; the decision is "report, do not fake drift";
- **missing columns** on either side: excluded, with a reason;
- **no reference**: see :func:`no_reference`.

The drifted share counts the evaluated columns only. With no column left, there is no verdict.

Evidently is slow to import (~6 s): it is imported inside :func:`check_drift` only.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drift.calibration import STD_FLOOR, Calibration
from drift.fleet import FleetSignals
from drift.sequential import SequentialState

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_THRESHOLD: Final = 0.1
"""Evidently's default for the normalised Wasserstein distance (in units of the reference std)."""
DEFAULT_DRIFT_SHARE: Final = 0.5
DEFAULT_MIN_ROWS: Final = 50
"""Below this many rows (finite values per column) a distance is mostly sampling noise."""

Status = Literal["ok", "no_verdict"]
Engine = Literal["evidently", "evidently-legacy", "scipy"]


class DriftConfig(BaseModel):
    """How a check decides. ``threshold`` applies to every column."""

    model_config = ConfigDict(frozen=True)

    threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0)
    drift_share: float = Field(default=DEFAULT_DRIFT_SHARE, gt=0, le=1)
    min_rows: int = Field(default=DEFAULT_MIN_ROWS, ge=2)
    engine: Engine = "evidently-legacy"
    """``evidently``: ``Report([DataDriftPreset(method="wasserstein")])``, which renders its plotly
    widgets while it runs (~0.5 s for 8 columns); ``evidently-legacy``: Evidently's
    ``evidently.legacy`` ``Report(metrics=[DataDriftPreset(stattest="wasserstein")])``, the same
    scores, widgets rendered only for the HTML report (~0.13 s); ``scipy`` computes the same
    statistic and verdict directly (no snapshot, no HTML report), for bulk evaluations."""


class ColumnDrift(BaseModel):
    score: float
    """Normalised Wasserstein distance (reference std units)."""
    threshold: float
    drifted: bool
    reference_rows: int
    """Finite reference values used."""
    current_rows: int
    """Finite current values used."""


class WindowInfo(BaseModel):
    rows: int
    """Rows compared (after leaving out rows the model flagged, see ``anomalies_excluded``)."""
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    anomalies_excluded: int = 0
    """Window rows left out because the serving model flagged them (failures are not drift)."""
    anomaly_share: float | None = None
    """Share of the window's rows that the model flagged."""
    rows_missing: int = 0
    """Rows lost from the inference log between the window's first and last row (a gap: retention
    or a full disk); the verdict was computed without them."""
    note: str | None = None


class ReferenceInfo(BaseModel):
    model_version: str | None
    """Registry version of the serving model (``None`` for an ad-hoc or path reference)."""
    reference_hash: str
    rows: int
    source: str
    """Where the reference came from: ``registry:<name>@champion``, a bundle path, or ``request``."""


class DriftResult(BaseModel):
    """One check's answer. ``drift_detected`` is false whenever there is no verdict; ``status`` and
    ``reason`` say why. For the sidecar's own window, ``drift_detected`` is the *sustained fleet*
    verdict (``sequential``), and ``check_drift_detected`` this one check's; for ad-hoc comparisons
    both are the check's."""

    status: Status
    drift_detected: bool
    check_drift_detected: bool | None = None
    """This check alone: input drift on the machines that are not alerting, or fleet-wide alerts."""
    sequential: SequentialState | None = None
    fleet: FleetSignals | None = None
    reason: str | None = None
    drifted_share: float | None = None
    drift_share: float
    threshold: float
    """The fixed threshold; with a calibration, each column's own is in ``columns``."""
    calibration: Calibration | None = None
    """How the per-column thresholds were found (``None``: fixed threshold and share)."""
    columns: dict[str, ColumnDrift] = Field(default_factory=dict)
    excluded: dict[str, str] = Field(default_factory=dict)
    """Column -> why it was left out of the verdict."""
    window: WindowInfo
    reference: ReferenceInfo | None
    checked_at: datetime
    duration_s: float = 0.0


@dataclass(frozen=True)
class DriftCheck:
    """A result and, when Evidently ran, its snapshot (for the HTML report)."""

    result: DriftResult
    snapshot: Any | None = None

    def html(self) -> str | None:
        return render_html(self.snapshot) if self.snapshot is not None else None


def render_html(snapshot: Any) -> str:
    """The Evidently report of a snapshot as a standalone HTML page (~4 MB: it embeds its JS)."""
    if hasattr(snapshot, "get_html_str"):
        return str(snapshot.get_html_str(as_iframe=False))
    return str(snapshot.get_html())  # evidently.legacy Report


def snapshot_to_json(snapshot: Any) -> str:
    return str(snapshot.dumps())


def snapshot_from_json(data: str) -> Any:
    import_evidently()
    from evidently.core.report import Snapshot

    return Snapshot.loads(data)


def window_info(frame: pd.DataFrame, ts: Sequence[float] | None = None) -> WindowInfo:
    """Window rows and, given Unix times, the first and last of them (UTC)."""
    if ts is None or len(ts) == 0:
        return WindowInfo(rows=len(frame))
    return WindowInfo(
        rows=len(frame),
        first_ts=datetime.fromtimestamp(float(min(ts)), UTC),
        last_ts=datetime.fromtimestamp(float(max(ts)), UTC),
    )


def no_reference(config: DriftConfig, window: WindowInfo, reason: str = "no reference yet") -> DriftCheck:
    """The answer while no reference is loaded (no model registered, bundle unreadable)."""
    return DriftCheck(_no_verdict(config, window, None, reason, {}))


def _no_verdict(
    config: DriftConfig,
    window: WindowInfo,
    reference: ReferenceInfo | None,
    reason: str,
    excluded: dict[str, str],
) -> DriftResult:
    return DriftResult(
        status="no_verdict",
        drift_detected=False,
        reason=reason,
        drift_share=config.drift_share,
        threshold=config.threshold,
        excluded=excluded,
        window=window,
        reference=reference,
        checked_at=datetime.now(UTC),
    )


def _finite(frame: pd.DataFrame, column: str) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values[np.isfinite(values)])


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    config: DriftConfig | None = None,
    reference_info: ReferenceInfo | None = None,
    window: WindowInfo | None = None,
    calibration: Calibration | None = None,
) -> DriftCheck:
    """Compare ``current`` with ``reference`` over ``columns`` (default: the numeric columns of the
    reference). With ``calibration``, each column is judged against its calibrated threshold and a
    column without one is excluded. Never raises for data reasons: bad windows and columns become
    ``no_verdict`` or ``excluded`` entries."""
    config = config or DriftConfig()
    window = window or WindowInfo(rows=len(current))
    started = time.perf_counter()
    if columns is None:
        columns = [str(c) for c in reference.select_dtypes(include="number").columns]
        columns += [
            str(c) for c in current.select_dtypes(include="number").columns if c not in reference.columns
        ]
    if len(current) < config.min_rows:
        return DriftCheck(
            _no_verdict(
                config,
                window,
                reference_info,
                f"window has {len(current)} rows, a check needs at least {config.min_rows}",
                {},
            )
        )
    if len(reference) < config.min_rows:
        return DriftCheck(
            _no_verdict(
                config,
                window,
                reference_info,
                f"reference has {len(reference)} rows, a check needs at least {config.min_rows}",
                {},
            )
        )

    excluded: dict[str, str] = {}
    evaluated: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for column in columns:
        if column not in reference.columns:
            excluded[column] = "missing in the reference"
            continue
        if column not in current.columns:
            excluded[column] = "missing in the current window"
            continue
        ref, cur = _finite(reference, column), _finite(current, column)
        if len(ref) < config.min_rows:
            excluded[column] = f"reference has {len(ref)} finite values, needs {config.min_rows}"
        elif len(cur) < config.min_rows:
            excluded[column] = f"current window has {len(cur)} finite values, needs {config.min_rows}"
        elif float(np.ptp(ref)) == 0.0:
            excluded[column] = f"constant in the reference ({ref[0]:g}): the normalised distance is undefined"
        elif calibration is not None and column not in calibration.thresholds:
            excluded[column] = "no calibrated threshold (too few reference values to calibrate)"
        else:
            evaluated[column] = (ref, cur)
    if not evaluated:
        return DriftCheck(_no_verdict(config, window, reference_info, "no column can be compared", excluded))

    thresholds = {
        c: calibration.thresholds[c] if calibration is not None else config.threshold for c in evaluated
    }
    # Calibrated: dataset drift when any column drifts, i.e. a share of at least one column.
    drift_share = 1.0 / len(evaluated) if calibration is not None else config.drift_share
    snapshot: Any | None = None
    if config.engine == "evidently":
        snapshot = _run_evidently(evaluated, thresholds, drift_share)
        scores, share = _parse_metrics(snapshot.dict()["metrics"])
    elif config.engine == "evidently-legacy":
        snapshot = _run_evidently_legacy(evaluated, thresholds, drift_share)
        scores, share = _parse_legacy(snapshot.as_dict()["metrics"])
    else:
        scores = _scipy_scores(evaluated)
        share = sum(scores[c] >= thresholds[c] for c in scores) / len(scores)
    result_columns = {
        column: ColumnDrift(
            score=scores[column],
            threshold=thresholds[column],
            drifted=scores[column] >= thresholds[column],
            reference_rows=len(ref),
            current_rows=len(cur),
        )
        for column, (ref, cur) in evaluated.items()
    }
    drifted = any(c.drifted for c in result_columns.values())
    result = DriftResult(
        status="ok",
        drift_detected=drifted if calibration is not None else share >= config.drift_share,
        drifted_share=share,
        drift_share=drift_share,
        threshold=config.threshold,
        calibration=calibration,
        columns=result_columns,
        excluded=excluded,
        window=window,
        reference=reference_info,
        checked_at=datetime.now(UTC),
        duration_s=time.perf_counter() - started,
    )
    return DriftCheck(result, snapshot)


def import_evidently() -> Any:
    """Import Evidently once (~6 s). Its import emits deprecation warnings from its own dependencies
    (numpy.core, litestar, invalid escapes in docstrings); they are silenced for the import only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import evidently
        import evidently.presets
        from evidently.core.report import Snapshot  # noqa: F401
    return evidently


def _run_evidently(
    evaluated: dict[str, tuple[np.ndarray, np.ndarray]], thresholds: dict[str, float], drift_share: float
) -> Any:
    import pandas as pd

    import_evidently()
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    names = list(evaluated)
    # Columns keep their own finite values; shorter ones are padded with NaN, which Evidently drops
    # per column, so each column is compared on exactly the values counted above.
    ref = pd.DataFrame({c: pd.Series(evaluated[c][0]) for c in names})
    cur = pd.DataFrame({c: pd.Series(evaluated[c][1]) for c in names})
    definition = DataDefinition(numerical_columns=names)
    report = Report(
        [DataDriftPreset(method="wasserstein", per_column_threshold=thresholds, drift_share=drift_share)]
    )
    return report.run(
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
        current_data=Dataset.from_pandas(cur, data_definition=definition),
    )


def _run_evidently_legacy(
    evaluated: dict[str, tuple[np.ndarray, np.ndarray]], thresholds: dict[str, float], drift_share: float
) -> Any:
    import pandas as pd

    with warnings.catch_warnings():  # its import warns about its own deprecation and dependencies
        warnings.simplefilter("ignore")
        from evidently.legacy.metric_preset import DataDriftPreset
        from evidently.legacy.pipeline.column_mapping import ColumnMapping
        from evidently.legacy.report import Report

    names = list(evaluated)
    ref = pd.DataFrame({c: pd.Series(evaluated[c][0]) for c in names})
    cur = pd.DataFrame({c: pd.Series(evaluated[c][1]) for c in names})
    report = Report(
        metrics=[
            DataDriftPreset(
                stattest="wasserstein", per_column_stattest_threshold=thresholds, drift_share=drift_share
            )
        ]
    )
    report.run(reference_data=ref, current_data=cur, column_mapping=ColumnMapping(numerical_features=names))
    return report


def _parse_legacy(metrics: list[dict[str, Any]]) -> tuple[dict[str, float], float]:
    """Per-column ``drift_score`` and the drifted share of a legacy report's ``as_dict()``."""
    for metric in metrics:
        result = metric.get("result", {})
        if "drift_by_columns" in result:
            by_column = result["drift_by_columns"]
            scores = {str(c): float(v["drift_score"]) for c, v in by_column.items()}
            return scores, float(result["share_of_drifted_columns"])
    raise RuntimeError("Evidently legacy report has no DataDriftTable metric")


def _scipy_scores(evaluated: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Evidently's statistic without Evidently: ``W1(ref, cur) / max(std(ref), 0.001)``."""
    from scipy.stats import wasserstein_distance

    return {
        c: float(wasserstein_distance(ref, cur) / max(float(np.std(ref)), STD_FLOOR))
        for c, (ref, cur) in evaluated.items()
    }


def _parse_metrics(metrics: list[dict[str, Any]]) -> tuple[dict[str, float], float]:
    """Per-column ``ValueDrift`` scores and the ``DriftedColumnsCount`` share of a snapshot dict."""
    scores: dict[str, float] = {}
    share = math.nan
    for metric in metrics:
        kind = str(metric.get("config", {}).get("type", ""))
        if kind.endswith(":ValueDrift"):
            scores[str(metric["config"]["column"])] = float(metric["value"])
        elif kind.endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    if math.isnan(share):
        raise RuntimeError("Evidently snapshot has no DriftedColumnsCount metric")
    return scores, share
