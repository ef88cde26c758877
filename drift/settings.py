"""Settings of the drift sidecar: one typed object, read from ``DRIFT_*`` environment variables once.

Reference source, in order of precedence:

- ``DRIFT_MODEL_PATH``: a bundle directory (``core.bundle``); its reference sample is used as is.
- otherwise the registry: the champion of ``DRIFT_MODEL_NAME`` at ``DRIFT_TRACKING_URI``
  (default ``MLFLOW_TRACKING_URI``, else the local ``DataLayout`` MLflow store), polled every
  ``DRIFT_POLL_INTERVAL_S`` seconds; a new champion's reference replaces the old one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Final, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.bundle import REGISTERED_MODEL_NAME
from core.inference_log import DEFAULT_SEGMENT_BYTES
from core.layout import DataLayout
from drift.detector import DEFAULT_MIN_ROWS, DriftConfig

SIDECAR_THRESHOLD: Final = 0.2
SIDECAR_DRIFT_SHARE: Final = 0.25
SIDECAR_WINDOW_ROWS: Final = 1_200
"""Calibrated on the simulator (tests/integration/drift/test_drift_on_simulator.py): hourly windows of
a 50-machine fleet, a 24 h window (1,200 rows) so the daily load and temperature cycle averages out,
rows the model flags left out (a few failing machines otherwise move the vibration features' tails
by 0.3-0.9 reference std). Healthy control windows then score at most ~0.15 per feature (the slow
weather swing on temperature), each drift scenario moves at least two features by >= 0.5. Evidently's
defaults (0.1, share 0.5) would miss the vibration recalibration (3 of 8 features) and alarm on the
weather. ``predmaint drift compare`` and ad-hoc ``POST /drift`` keep Evidently's defaults."""


class DriftSettings(BaseSettings):
    """Everything the sidecar needs to know about its environment. Built once, passed to ``create_app``."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFT_", extra="ignore", protected_namespaces=(), frozen=True, populate_by_name=True
    )

    # --- reference ---------------------------------------------------------------------------------
    model_path: Path | None = None
    """A bundle directory whose reference sample is used; when set, the registry is not consulted."""
    tracking_uri: str | None = None
    model_name: str = REGISTERED_MODEL_NAME
    poll_interval_s: float = Field(default=30.0, gt=0, le=86_400)
    """Seconds between two reads of the champion."""
    model_cache_dir: Path | None = None
    """Where registry versions are downloaded; default ``<tmp>/predmaint-drift-models``."""

    # --- log and window ----------------------------------------------------------------------------
    inference_log_dir: Path | None = None
    """Default ``DataLayout.from_env().inference_log_dir``."""
    state_path: Path | None = None
    """Tailer position file; default ``<data dir>/drift/tailer-state.json``."""
    segment_bytes: int = Field(default=DEFAULT_SEGMENT_BYTES, ge=4096)
    """The writer's segment size: used only to estimate rows lost to retention."""
    tail_interval_s: float = Field(default=1.0, gt=0, le=3600)
    window_rows: int = Field(default=SIDECAR_WINDOW_ROWS, ge=2, le=1_000_000)
    window_seconds: float | None = Field(default=None, gt=0)
    """Also drop rows older than this (by their ``ts``) before the newest row; none by default."""

    # --- checks ------------------------------------------------------------------------------------
    check_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    threshold: float = Field(default=SIDECAR_THRESHOLD, gt=0)
    """Per-column normalised Wasserstein distance at or above which a column has drifted."""
    drift_share: float = Field(default=SIDECAR_DRIFT_SHARE, gt=0, le=1)
    exclude_anomalies: bool = True
    """Leave rows the serving model flagged out of the window check: failures are not drift."""
    max_anomaly_share: float = Field(default=0.5, gt=0, le=1)
    """Above this share of flagged rows the change is fleet-wide (drift, not a few failing machines):
    every row is compared."""
    min_rows: int = Field(default=DEFAULT_MIN_ROWS, ge=2)
    engine: Literal["evidently", "scipy"] = "evidently"
    """``scipy``: the same scores and verdicts without Evidently's snapshot (no HTML report)."""
    max_request_rows: int = Field(default=20_000, ge=1, le=1_000_000)
    """Rows per side (``reference``, ``current``) in a ``POST /drift`` body."""
    max_request_columns: int = Field(default=100, ge=1, le=10_000)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    background: bool = True
    """Run the tail/check/poll loop in a background thread (tests switch it off and drive it)."""

    # --- edge --------------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    applicationinsights_connection_string: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "APPLICATIONINSIGHTS_CONNECTION_STRING", "applicationinsights_connection_string"
        ),
    )
    """Standard Azure Monitor variable (no prefix): OpenTelemetry export is on only when it is set."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_rows > self.window_rows:
            raise ValueError(
                f"DRIFT_MIN_ROWS ({self.min_rows}) is larger than DRIFT_WINDOW_ROWS ({self.window_rows}): "
                "no check could ever reach a verdict"
            )
        return self

    @property
    def drift_config(self) -> DriftConfig:
        return DriftConfig(
            threshold=self.threshold, drift_share=self.drift_share, min_rows=self.min_rows, engine=self.engine
        )

    def resolved_tracking_uri(self, layout: DataLayout | None = None) -> str:
        from core.registry import resolve_tracking_uri

        return self.tracking_uri or resolve_tracking_uri(
            (layout or DataLayout.from_env()).mlflow_tracking_uri
        )

    def resolved_log_dir(self, layout: DataLayout | None = None) -> Path:
        return self.inference_log_dir or (layout or DataLayout.from_env()).inference_log_dir

    def resolved_state_path(self, layout: DataLayout | None = None) -> Path:
        return self.state_path or (layout or DataLayout.from_env()).root / "drift" / "tailer-state.json"

    def resolved_cache_dir(self) -> Path:
        return self.model_cache_dir or Path(tempfile.gettempdir()) / "predmaint-drift-models"
