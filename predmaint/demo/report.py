"""The demo's HTML report (self-contained: plotly.js inline) and its machine-readable summary.

Plots, each in a ``<div id="plot-...">`` (ids in :data:`PLOT_IDS`): fleet anomaly scores over time
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

from predmaint.demo.quality import AlertQuality
from predmaint.demo.record import RunRecord
from predmaint.demo.timeline import EventKind, Timeline

if TYPE_CHECKING:
    import plotly.graph_objects as go

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

_MARKED: Final = {
    EventKind.drift_onset: "#7f7f7f",
    EventKind.detection: "#ff7f0e",
    EventKind.alert: "#d62728",
    EventKind.retrain_start: "#9467bd",
    EventKind.retrain_end: "#8c564b",
    EventKind.promotion: "#2ca02c",
    EventKind.swap: "#1a7f1a",
    EventKind.recovery: "#17becf",
}


def _mark_events(fig: go.Figure, timeline: Timeline, kinds: Sequence[EventKind]) -> None:
    for kind in kinds:
        for e in timeline.of(kind):
            if e.sim_time is None:
                continue
            fig.add_vline(x=e.sim_time, line_dash="dot", line_color=_MARKED.get(kind, "#333"))
            fig.add_annotation(
                x=e.sim_time,
                y=1.0,
                yref="paper",
                text=kind.value,
                showarrow=False,
                textangle=-90,
                xanchor="left",
                yanchor="top",
                font={"size": 10, "color": _MARKED.get(kind, "#333")},
            )


def fleet_scores_figure(record: RunRecord, timeline: Timeline) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    # Only the failures inside the scored period: history and not-yet-due failures would squash the plot.
    scored_from = min((r.sim_time for r in record.scores), default=None)
    scored_to = max((r.sim_time for r in record.scores), default=None)
    failures = [
        f
        for f in record.failures
        if scored_from is not None and scored_to is not None and scored_from <= f.failure_time <= scored_to
    ]
    failing = {f.machine_id for f in failures}
    by_machine: dict[str, list[tuple[datetime, float]]] = {}
    for r in record.scores:
        by_machine.setdefault(r.machine_id, []).append((r.sim_time, r.anomaly_score))
    for machine, pts in sorted(by_machine.items(), key=lambda kv: kv[0] in failing):
        xs, ys = zip(*pts, strict=True)
        fig.add_trace(
            go.Scattergl(
                x=xs,
                y=ys,
                mode="lines",
                name=machine,
                line={
                    "width": 2 if machine in failing else 1,
                    "color": None if machine in failing else "rgba(120,120,120,0.35)",
                },
                showlegend=machine in failing,
            )
        )
    # the threshold of whichever model was serving
    th = sorted({(r.sim_time, r.threshold) for r in record.scores})
    if th:
        xs, ys = zip(*th, strict=True)
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines", name="threshold", line={"dash": "dash", "color": "black"})
        )
    for f in failures:
        fig.add_vline(x=f.failure_time, line_color="red", line_width=1)
        fig.add_annotation(
            x=f.failure_time,
            y=1.0,
            yref="paper",
            text=f"{f.machine_id} fails ({f.mode})",
            showarrow=False,
            textangle=-90,
            xanchor="right",
            yanchor="top",
            font={"size": 10, "color": "red"},
        )
    _mark_events(fig, timeline, [EventKind.drift_onset, EventKind.swap])
    fig.update_layout(
        title="Fleet anomaly scores (grey: healthy machines; red lines: failures)",
        xaxis_title="simulated time",
        yaxis_title="anomaly score (higher = more anomalous)",
    )
    return fig


def drift_share_figure(record: RunRecord, timeline: Timeline) -> go.Figure:
    import plotly.graph_objects as go

    rows = [d for d in record.drift if d.share is not None]
    fig = go.Figure()
    if rows:
        fig.add_trace(
            go.Scatter(
                x=[d.sim_time for d in rows],
                y=[d.share for d in rows],
                mode="lines+markers",
                name="drifted share of features",
                marker={"size": 4},
            )
        )
        thresholds = [d.share_threshold for d in rows if d.share_threshold is not None]
        if thresholds:
            fig.add_hline(
                y=thresholds[-1],
                line_dash="dash",
                line_color="red",
                annotation_text=f"threshold {thresholds[-1]:g}",
            )
    _mark_events(fig, timeline, list(_MARKED))
    fig.update_layout(
        title="Drift share over time (sidecar, Evidently Wasserstein)",
        xaxis_title="simulated time",
        yaxis_title="share of drifted features",
        yaxis_range=[0, 1.05],
    )
    return fig


def feature_drift_figure(record: RunRecord) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    peak = record.peak
    if peak and peak.columns:
        names = list(peak.columns)
        fig.add_trace(go.Bar(x=names, y=[peak.columns[n] for n in names], name="drift score"))
        if peak.column_thresholds:
            fig.add_trace(
                go.Scatter(
                    x=names,
                    y=[peak.column_thresholds.get(n) for n in names],
                    mode="markers",
                    marker={"symbol": "line-ew-open", "size": 30, "color": "red"},
                    name="threshold",
                )
            )
        when = peak.sim_time.strftime("%Y-%m-%d %H:%M")
        fig.update_layout(title=f"Per-feature drift at the peak ({when}, share {peak.share:.2f})")
    else:
        fig.update_layout(title="Per-feature drift at the peak (no verdict recorded)")
    fig.update_layout(yaxis_title="normalised Wasserstein distance")
    return fig


def model_versions_figure(record: RunRecord, timeline: Timeline) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    pts = sorted({(r.sim_time, r.model_version) for r in record.scores})
    if pts:
        xs, ys = zip(*pts, strict=True)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[f"v{v}" for v in ys],
                mode="lines",
                line_shape="hv",
                name="version in /predict answers",
            )
        )
    _mark_events(fig, timeline, [EventKind.retrain_start, EventKind.promotion, EventKind.swap])
    fig.update_layout(
        title="Model version serving /predict",
        xaxis_title="simulated time",
        yaxis_title="model version",
        yaxis_type="category",
    )
    return fig


def alert_quality_figure(quality: AlertQuality) -> go.Figure:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.0%}"

    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.45, 0.55],
        specs=[[{"type": "table"}, {"type": "bar"}]],
        subplot_titles=("alert quality", "lead time per failure (hours before it)"),
    )
    names = [
        "precision (all alerts)",
        "precision outside the drift episode",
        "precision during the drift episode",
        "drift-suspect rows (fleet flagged at once: no alert)",
        "recall",
        "mean lead time",
        "alerts",
        "flagged machine-hours",
        "failures in the live phase",
        "alert rule",
    ]
    values = [
        f"{pct(quality.precision)} ({quality.true_alerts}/{quality.alerts})",
        f"{pct(quality.precision_outside_drift)} "
        f"({quality.true_alerts_outside_drift}/{quality.alerts_outside_drift})",
        f"{pct(quality.precision_during_drift)} "
        f"({quality.true_alerts_during_drift}/{quality.alerts_during_drift})",
        str(quality.drift_suspect_rows),
        f"{pct(quality.recall)} ({quality.detected}/{quality.failures})",
        "n/a" if quality.mean_lead_time_h is None else f"{quality.mean_lead_time_h:.1f} h",
        str(quality.alerts),
        str(quality.flags),
        str(quality.failures),
        f"{quality.alert_k} flagged hours in a row; true if the machine fails within {quality.horizon_h:g} h",
    ]
    fig.add_trace(
        go.Table(header={"values": ["measure", "value"]}, cells={"values": [names, values]}), row=1, col=1
    )
    labels = [f"{o.machine_id} ({o.mode})" for o in quality.outcomes]
    leads = [o.lead_time_h or 0.0 for o in quality.outcomes]
    colors = ["#2ca02c" if o.first_alert else "#d62728" for o in quality.outcomes]
    fig.add_trace(go.Bar(x=labels, y=leads, marker_color=colors, name="lead time (h)"), row=1, col=2)
    fig.update_layout(title="Alerts against ground-truth failures", showlegend=False)
    return fig


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
