"""Ground-truth labels on disk: failures and maintenance periods, where the layout says."""

from __future__ import annotations

from pathlib import Path

from core.layout import DataLayout
from simulator.fleet import SimulationResult


def write_labels(layout: DataLayout, result: SimulationResult) -> tuple[Path, Path]:
    """Write ``result.failures`` to ``layout.failures_path`` and ``result.maintenance`` to
    ``layout.maintenance_path`` (parquet, replacing earlier files); return both paths.

    Failures: machine_id, failure_time, mode, onset_time (UTC). Maintenance: machine_id, start, end
    (UTC; no readings in between). Also writes the machine registry (``layout.machines_path``:
    machine_id, machine_type) that the relative features group peers by."""
    from features.relative import write_machine_types

    layout.labels_dir.mkdir(parents=True, exist_ok=True)
    write_machine_types(layout, result.machines)  # the peers of the relative features
    result.failures.to_parquet(layout.failures_path, index=False)
    result.maintenance.to_parquet(layout.maintenance_path, index=False)
    return layout.failures_path, layout.maintenance_path
