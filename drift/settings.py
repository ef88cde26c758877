"""Settings of the drift sidecar: one typed object, read from ``DRIFT_*`` environment variables once.

Reference source, in order of precedence:

- ``DRIFT_MODEL_PATH``: a bundle directory (``core.bundle``); its reference sample is used as is.
- otherwise the registry: the champion of ``DRIFT_MODEL_NAME`` at ``DRIFT_TRACKING_URI``
  (default ``MLFLOW_TRACKING_URI``, else the local ``DataLayout`` MLflow store), polled every
  ``DRIFT_POLL_INTERVAL_S`` seconds; a new champion's reference replaces the old one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.inference_log import DEFAULT_SEGMENT_BYTES
from core.layout import DataLayout
from drift.calibration import DEFAULT_DRAWS, DEFAULT_FALSE_ALARM_PROBABILITY
from drift.detector import DEFAULT_MIN_ROWS, DriftConfig, Engine
from drift.fleet import DEFAULT_FLEET_SHARE, DEFAULT_MACHINE_ALERT_SHARE
from drift.sequential import DEFAULT_K, DEFAULT_N
from service.settings import ServiceSettings

SIDECAR_THRESHOLD: Final = 0.2
SIDECAR_DRIFT_SHARE: Final = 0.25
"""The fixed rule (``DRIFT_THRESHOLD_MODE=fixed``), kept for comparison: on real recordings it flags
normal operation (issue 14); the default is the calibrated rule."""
SIDECAR_WINDOW_ROWS: Final = 1_200
"""One day of hourly rows of a 50-machine fleet: a whole day, so every hour of the daily load and
temperature cycle weighs the same in the window as in a reference trained on whole days. Set it to
machines x 24 for another fleet size."""


class DriftSettings(ServiceSettings, BaseSettings):
    """Everything the sidecar needs to know about its environment. Built once, passed to ``create_app``.
    The model source, API key (``DRIFT_API_KEY``), host and telemetry fields come from
    ``service.settings``."""

    cache_dir_name = "predmaint-drift-models"

    model_config = SettingsConfigDict(
        env_prefix="DRIFT_", extra="ignore", protected_namespaces=(), frozen=True, populate_by_name=True
    )

    # --- reference (model_path, tracking_uri, model_name, model_cache_dir: ServiceSettings) -------
    poll_interval_s: float = Field(default=30.0, gt=0, le=86_400)
    """Seconds between two reads of the champion."""

    # --- log and window ----------------------------------------------------------------------------
    inference_log_dir: Path | None = None
    """Default ``DataLayout.from_env().inference_log_dir``."""
    state_path: Path | None = None
    """Tailer position file; default ``<data dir>/drift/tailer-state.json``."""
    segment_bytes: int = Field(default=DEFAULT_SEGMENT_BYTES, ge=4096)
    """The writer's segment size: used only to estimate rows lost to retention."""
    tail_interval_s: float = Field(default=1.0, gt=0, le=3600)
    """Seconds between two reads of the inference log."""
    window_rows: int = Field(default=SIDECAR_WINDOW_ROWS, ge=2, le=1_000_000)
    """Rows in the sliding window: one day of a 50-machine fleet (machines x 24 for another size)."""
    window_hours: float | None = Field(default=24.0, gt=0)
    """Hours of telemetry the full window holds (``window_rows`` / machines for hourly rows):
    calibration draws reference stretches as long (needs the bundle's ``reference_hours``)."""
    window_seconds: float | None = Field(default=None, gt=0)
    """Also drop rows older than this (by their ``ts``) before the newest row; none by default."""

    # --- checks ------------------------------------------------------------------------------------
    check_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    """Seconds between two checks of the window."""
    threshold_mode: Literal["calibrated", "fixed"] = "calibrated"
    """``calibrated``: per-column thresholds from the reference (``drift.calibration``);
    ``fixed``: ``threshold`` and ``drift_share`` below (the pre-calibration rule)."""
    false_alarm_probability: float = Field(default=DEFAULT_FALSE_ALARM_PROBABILITY, gt=0, lt=0.5)
    """Calibrated per-check probability that a window of normal operation is called drift."""
    calibration_draws: int = Field(default=DEFAULT_DRAWS, ge=20, le=10_000)
    """Reference stretches drawn per feature to calibrate its threshold."""
    sustain_k: int = Field(default=DEFAULT_K, ge=1, le=12)
    """See ``sustain_n``."""
    sustain_n: int = Field(default=DEFAULT_N, ge=1, le=12)
    """The sustained verdict (``predmaint_drift_detected``): ``sustain_k`` of the last ``sustain_n``
    steps drifted (``drift.sequential``)."""
    step_rows: int | None = Field(default=None, ge=1)
    """New rows between two steps of the sustained verdict; default the window (disjoint windows)."""
    machine_types_path: str | None = None
    """CSV or parquet with ``machine_id, machine_type`` for the per-type signals; unknown otherwise."""
    machine_alert_share: float = Field(default=DEFAULT_MACHINE_ALERT_SHARE, gt=0, le=1)
    """Share of a machine's rows (at least 3) flagged from which the machine is alerting."""
    fleet_share: float = Field(default=DEFAULT_FLEET_SHARE, gt=0, le=1)
    """Alerting machines (of the fleet, or of one type) from which the change is fleet drift."""
    threshold: float = Field(default=SIDECAR_THRESHOLD, gt=0)
    """Fixed mode: normalised Wasserstein distance at or above which a column has drifted."""
    drift_share: float = Field(default=SIDECAR_DRIFT_SHARE, gt=0, le=1)
    """Fixed mode: share of drifted columns that means dataset drift."""
    exclude_anomalies: bool = True
    """Leave rows the serving model flagged out of the window check: failures are not drift."""
    max_anomaly_share: float = Field(default=0.5, gt=0, le=1)
    """Above this share of flagged rows the change is fleet-wide (drift, not a few failing machines):
    every row is compared."""
    min_rows: int = Field(default=DEFAULT_MIN_ROWS, ge=2)
    """Rows (after leaving flagged ones out) a check needs before it gives a verdict."""
    engine: Engine = "evidently-legacy"
    """``scipy``: the same scores and verdicts without Evidently's snapshot (no HTML report)."""
    max_request_rows: int = Field(default=5_000, ge=1, le=1_000_000)
    """Rows per side (``reference``, ``current``) in a ``POST /drift`` body."""
    max_request_columns: int = Field(default=32, ge=1, le=10_000)
    max_request_cells: int = Field(default=20_000, ge=1, le=100_000_000)
    """Rows x columns per side: the compute cost of a check grows with it (calibration of an ad-hoc
    reference draws windows from it), so beyond it a request is refused before any work (422)."""
    max_request_cost_s: float = Field(default=0.5, gt=0, le=600)
    """A ``POST /drift`` check estimated (``drift.cost``, from its rows, columns and calibration
    resamples) to cost more CPU seconds than this is refused before any work (422 ``too_costly``)."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Larger bodies are refused (413) before they are parsed; a JSON number of ~20 bytes per cell
    puts two sides of ``max_request_cells`` under 1 MiB; the limit leaves room for long names."""
    background: bool = True
    """Run the tail/check/poll loop in a background thread (tests switch it off and drive it)."""

    # --- edge (api_key, host, applicationinsights_connection_string: ServiceSettings) ------------
    port: int = Field(default=8001, ge=1, le=65535)
    """``predmaint drift serve`` port."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_rows > self.window_rows:
            raise ValueError(
                f"DRIFT_MIN_ROWS ({self.min_rows}) is larger than DRIFT_WINDOW_ROWS ({self.window_rows}): "
                "no check could ever reach a verdict"
            )
        if self.sustain_k > self.sustain_n:
            raise ValueError(f"DRIFT_SUSTAIN_K ({self.sustain_k}) exceeds DRIFT_SUSTAIN_N ({self.sustain_n})")
        return self

    @property
    def resolved_step_rows(self) -> int:
        return self.step_rows or self.window_rows

    @property
    def drift_config(self) -> DriftConfig:
        return DriftConfig(
            threshold=self.threshold, drift_share=self.drift_share, min_rows=self.min_rows, engine=self.engine
        )

    def resolved_log_dir(self, layout: DataLayout | None = None) -> Path:
        return self.inference_log_dir or (layout or DataLayout.from_env()).inference_log_dir

    def resolved_state_path(self, layout: DataLayout | None = None) -> Path:
        return self.state_path or (layout or DataLayout.from_env()).root / "drift" / "tailer-state.json"
