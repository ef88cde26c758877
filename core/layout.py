"""Where local state lives: one directory (``PREDMAINT_DATA_DIR``, default ``./.predmaint``).

Every local component derives its paths from :class:`DataLayout`; nothing else spells them.
In Azure the same roles are played by ADLS (offline features), Redis (online store) and the
AzureML workspace (tracking and registry).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DATA_DIR_ENV: Final = "PREDMAINT_DATA_DIR"
DEFAULT_DATA_DIR: Final = ".predmaint"


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DataLayout:
        env = os.environ if environ is None else environ
        return cls(Path(env.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)).resolve())

    @property
    def telemetry_dir(self) -> Path:
        """Raw readings as parquet (what was ingested)."""
        return self.root / "telemetry"

    @property
    def windows_dir(self) -> Path:
        """Offline store: hourly window features as parquet (the Feast FileSource)."""
        return self.root / "offline" / "sensor_stats"

    @property
    def labels_dir(self) -> Path:
        return self.root / "labels"

    @property
    def failures_path(self) -> Path:
        """Ground-truth failure events: machine_id, failure_time, mode."""
        return self.labels_dir / "failures.parquet"

    @property
    def maintenance_path(self) -> Path:
        """Maintenance periods: machine_id, start, end."""
        return self.labels_dir / "maintenance.parquet"

    @property
    def machines_path(self) -> Path:
        """The machine registry: machine_id, machine_type (peers are machines of one type)."""
        return self.root / "machines.parquet"

    @property
    def feast_dir(self) -> Path:
        return self.root / "feast"

    @property
    def mlflow_dir(self) -> Path:
        return self.root / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def inference_log_dir(self) -> Path:
        return self.root / "inference-log"

    @property
    def runs_dir(self) -> Path:
        """Local pipeline runs: one folder per run, one subfolder per step."""
        return self.root / "runs"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"
