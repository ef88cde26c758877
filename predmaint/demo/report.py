"""The demo's HTML report (self-contained: plotly.js inline) and its machine-readable summary.

Plots (drawn by :mod:`predmaint.demo.figures`), each in a ``<div id="plot-...">`` (ids in
:data:`PLOT_IDS`): fleet anomaly scores over time
with failures marked; drift share over time against the threshold with the alert, retrain and
promotion marked; per-feature drift at the peak; the served model version over time; alert
precision, recall and lead time. The Evidently report of the peak window sits beside it and is
linked. A table lists the alert episodes (``aml.episodes``, from the facade's answers): when each
opened and closed, whether it was notified or suppressed by the budget, whether it opened during
the fleet drift the sidecar detected, whether the machine failed within the horizon, and the
features (and sensors) that drove it, from the answers' ``top_features``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from predmaint.demo.figures import (
    alert_quality_figure,
    drift_share_figure,
    feature_drift_figure,
    fleet_scores_figure,
    model_versions_figure,
)
from predmaint.demo.quality import AlertQuality
from predmaint.demo.record import RunRecord
from predmaint.demo.timeline import Timeline

if TYPE_CHECKING:
    from aml.episodes import Episode

PLOT_IDS: Final = (
    "plot-fleet-scores",
    "plot-drift-share",
    "plot-feature-drift",
    "plot-model-versions",
    "plot-alert-quality",
)
REPORT_FILE: Final = "demo-report.html"
SUMMARY_FILE: Final = "summary.json"
EVIDENTLY_FILE: Final = "drift-peak-evidently.html"


def alert_episodes(record: RunRecord) -> list[Episode]:
    """The live phase's alert episodes: every answered score with its version's threshold; drift
    intervals are the sidecar's detected verdicts; rows scored while the fleet is flagged at once
    (``aml.episodes.fleet_drift_rows``) raise no alert."""
    import pandas as pd

    from aml.episodes import (
        SCORE,
        TOP_FEATURES,
        EpisodePolicy,
        drift_intervals,
        episodes_from_scores,
        fleet_drift_rows,
    )
    from core.contract import ENTITY_KEY, EVENT_TIMESTAMP

    if not record.scores:
        return []
    frame = pd.DataFrame(
        {
            ENTITY_KEY: [r.machine_id for r in record.scores],
            EVENT_TIMESTAMP: pd.to_datetime([r.sim_time for r in record.scores], utc=True),
            SCORE: [r.anomaly_score for r in record.scores],
            TOP_FEATURES: [r.top_features for r in record.scores],
        }
    )
    thresholds = np.asarray([r.threshold for r in record.scores])
    frame[SCORE] = np.where(fleet_drift_rows(frame, thresholds), -np.inf, frame[SCORE].to_numpy())
    drift = drift_intervals([d.sim_time for d in record.drift], [d.detected for d in record.drift])
    return episodes_from_scores(frame, thresholds, EpisodePolicy(), drift=drift)


def fails_within(record: RunRecord, episode: Episode, horizon_h: float) -> bool:
    return any(
        f.machine_id == episode.machine_id
        and episode.opened_at < f.failure_time <= episode.opened_at + timedelta(hours=horizon_h)
        for f in record.failures
    )


def episodes_table(record: RunRecord, episodes: Sequence[Episode], horizon_h: float) -> str:
    """The HTML table of the episodes (module docstring)."""
    if not episodes:
        return "<p>No alert episodes.</p>"

    def when(t: datetime | None) -> str:
        return t.strftime("%m-%d %H:%M") if t else "open"

    def explain(e: Episode) -> str:
        return "<br>".join(
            f"{html.escape(str(f['feature']))} <small>({html.escape(str(f['sensor']))})</small> "
            f"{float(f['contribution']):+.3f}"
            for f in e.top_features
        )

    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{c}</td>"
            for c in (
                html.escape(e.machine_id),
                when(e.opened_at),
                when(e.closed_at),
                f"{e.flagged}/{e.windows}",
                f"{e.peak_score:.3f}",
                "notified" if e.notified else '<span class="bad">suppressed (budget)</span>',
                "drift-suspect" if e.drift_suspect else "",
                "fails" if fails_within(record, e, horizon_h) else "no failure",
                explain(e),
            )
        )
        + "</tr>"
        for e in episodes
    )
    return (
        '<table class="tl" id="alert-episodes"><tr><th>machine</th><th>opened</th><th>closed</th>'
        "<th>flagged/windows</th><th>peak score</th><th>notification</th><th>fleet drift</th>"
        f"<th>within {horizon_h:g} h</th><th>top features (mean contribution over flagged windows)</th></tr>"
        f"{rows}</table>"
    )


def write_report(
    out_dir: Path,
    record: RunRecord,
    timeline: Timeline,
    quality: AlertQuality,
    *,
    title: str,
    settings: dict[str, Any],
    verdict: list[str],
) -> Path:
    """Write ``demo-report.html`` into ``out_dir`` and return its path."""
    from aml.episodes import EpisodePolicy
    from predmaint.demo.gate_report import gate_section

    policy = EpisodePolicy()
    episodes = alert_episodes(record)
    figures = [
        fleet_scores_figure(record, timeline),
        drift_share_figure(record, timeline),
        feature_drift_figure(record),
        model_versions_figure(record, timeline),
        alert_quality_figure(quality),
    ]
    parts = []
    for i, (fig, div_id) in enumerate(zip(figures, PLOT_IDS, strict=True)):
        fig.update_layout(height=460, margin={"t": 60, "b": 50})
        parts.append(
            fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False, div_id=div_id)
        )

    evidently = ""
    if record.evidently_report and record.evidently_report.is_file():
        rel = (
            record.evidently_report.relative_to(out_dir)
            if record.evidently_report.is_relative_to(out_dir)
            else (record.evidently_report)
        )
        link = html.escape(str(rel))
        evidently = f'<p>Evidently report of the peak window: <a href="{link}">{link}</a></p>'
    status = (
        '<p class="ok">The loop closed: drift detected, alert fired, retrained, promoted, recovered.</p>'
        if not verdict
        else '<p class="bad">The loop did not close:</p><ul>'
        + "".join(f"<li>{html.escape(v)}</li>" for v in verdict)
        + "</ul>"
    )
    timeline_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in (
                f"{e.wall_s:.1f}",
                e.sim_time.strftime("%Y-%m-%d %H:%M") if e.sim_time else "",
                e.kind.value,
                e.machine_id or "",
                e.detail,
            )
        )
        + "</tr>"
        for e in timeline.events
    )
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; }}
table.tl {{ border-collapse: collapse; font-size: 0.85rem; }}
table.tl td, table.tl th {{ border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left; }}
.ok {{ color: #2ca02c; font-weight: bold; }} .bad {{ color: #d62728; font-weight: bold; }}
pre {{ background: #f6f6f6; padding: 0.5rem; font-size: 0.8rem; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{status}
{evidently}
{"".join(parts)}
<h2>Alert episodes</h2>
<p>Open after {policy.open_k} flagged hours in a row, close after {policy.close_m} clear hours in a
row; one notification per episode, at most {policy.budget} per machine per {policy.budget_period_h:g} h
(beyond it: suppressed and counted). Contributions are in score units: a row's contributions over all
features sum to its anomaly score minus 0.5.</p>
{episodes_table(record, episodes, quality.horizon_h)}
{gate_section(record.retrains)}
<h2>Timeline</h2>
<table class="tl"><tr><th>wall s</th><th>simulated time</th><th>event</th><th>machine</th><th>detail</th></tr>
{timeline_rows}</table>
<h2>Settings</h2><pre>{html.escape(json.dumps(settings, indent=2, default=str))}</pre>
</body></html>
"""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_FILE
    path.write_text(doc, encoding="utf-8")
    return path
