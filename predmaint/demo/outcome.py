"""Did the loop close? The checks behind the exit code, and ``summary.json`` for tests and tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from predmaint.demo.config import DemoConfig
from predmaint.demo.quality import AlertQuality
from predmaint.demo.record import RunRecord
from predmaint.demo.report import PLOT_IDS, SUMMARY_FILE, alert_episodes, fails_within
from predmaint.demo.timeline import EventKind, Timeline

DRIFT_EPISODES = 1
"""The demo injects one drift scenario: one episode, so exactly one retrain is expected."""


def problems(record: RunRecord, timeline: Timeline) -> list[str]:
    """What kept the loop from closing; empty when it closed."""
    found = []
    onset = record.drift_onset
    detections = [
        e for e in timeline.of(EventKind.detection) if onset is None or (e.sim_time and e.sim_time >= onset)
    ]
    if not detections:
        found.append("the drift sidecar never detected the injected drift")
    if not timeline.of(EventKind.alert):
        found.append("the drift alert never fired")
    retrains = len(timeline.of(EventKind.retrain_triggered))
    if retrains != DRIFT_EPISODES:
        found.append(
            f"expected exactly {DRIFT_EPISODES} retrain for {DRIFT_EPISODES} drift episode, saw {retrains}"
        )
    if not timeline.of(EventKind.retrain_end):
        found.append("no retrain ran to the end")
    if not timeline.of(EventKind.promotion):
        found.append("no retrained model was promoted to champion")
    if not timeline.of(EventKind.swap):
        found.append("the facade never served a new model version")
    if not timeline.of(EventKind.recovery):
        found.append("drift did not subside against the new model's reference")
    if record.predict.failed:
        first = record.predict.errors[0] if record.predict.errors else ""
        found.append(
            f"{record.predict.failed} of {record.predict.requests} /predict requests failed ({first})"
        )
    return found


def summary(
    config: DemoConfig,
    record: RunRecord,
    timeline: Timeline,
    quality: AlertQuality,
    report: Path,
    found: list[str],
    wall_s: float,
) -> dict[str, Any]:
    versions = [v for _, v in record.served_versions]
    return {
        "closed": not found,
        "problems": found,
        "wall_seconds": round(wall_s, 1),
        "drift_detected": bool(timeline.of(EventKind.detection)),
        "detections": len(timeline.of(EventKind.detection)),
        "alerts": len(timeline.of(EventKind.alert)),
        "drift_episodes": DRIFT_EPISODES,
        "retrains": len(timeline.of(EventKind.retrain_triggered)),
        "retrains_started": len(timeline.of(EventKind.retrain_start)),
        "retrain_runs": record.retrains,
        "promotions": len(timeline.of(EventKind.promotion)),
        "recovered": bool(timeline.of(EventKind.recovery)),
        "initial_version": versions[0] if versions else None,
        "final_version": versions[-1] if versions else None,
        "served_versions": versions,
        "predict": {
            "requests": record.predict.requests,
            "failed": record.predict.failed,
            "failed_during_swap": record.predict.failed_during_swap,
            "stale": record.predict.stale_rows,
            "errors": record.predict.errors,
        },
        "scored_rows": len(record.scores),
        "peak_drift_share": record.peak.share if record.peak else None,
        "report": str(report),
        "plots": list(PLOT_IDS),
        "evidently_report": str(record.evidently_report) if record.evidently_report else None,
        "live_start": record.live_start.isoformat() if record.live_start else None,
        "live_end": record.live_end.isoformat() if record.live_end else None,
        "drift_onset": record.drift_onset.isoformat() if record.drift_onset else None,
        "alert_quality": quality.to_json(),
        "alert_episodes": _episodes_json(record, quality),
        "drift": [
            {
                "sim_time": d.sim_time.isoformat(),
                "share": d.share,
                "detected": d.detected,
                "model_version": d.model_version,
                "columns": {k: round(v, 4) for k, v in d.columns.items()},
            }
            for d in record.drift
        ],
        "timeline": timeline.to_json(),
        "config": config.model_dump(mode="json"),
    }


def _episodes_json(record: RunRecord, quality: AlertQuality) -> dict[str, Any]:
    from aml.episodes import EpisodeCounts

    episodes = alert_episodes(record)
    return {
        **EpisodeCounts(episodes).as_json(),
        "episodes_list": [
            {
                "machine_id": e.machine_id,
                "opened_at": e.opened_at.isoformat(),
                "closed_at": e.closed_at.isoformat() if e.closed_at else None,
                "flagged": e.flagged,
                "windows": e.windows,
                "peak_score": e.peak_score,
                "notified": e.notified,
                "drift_suspect": e.drift_suspect,
                "fails_within_horizon": fails_within(record, e, quality.horizon_h),
                "top_features": e.top_features,
            }
            for e in episodes
        ],
    }


def write_summary(
    out_dir: Path,
    config: DemoConfig,
    record: RunRecord,
    timeline: Timeline,
    quality: AlertQuality,
    report: Path,
    found: list[str],
    wall_s: float,
) -> Path:
    path = out_dir / SUMMARY_FILE
    path.write_text(json.dumps(summary(config, record, timeline, quality, report, found, wall_s), indent=2))
    return path
