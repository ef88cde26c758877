"""The report's plots (plotly figures), one function each; :mod:`predmaint.demo.report` lays them out
in the HTML page under the ids of ``report.PLOT_IDS``, in this order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from predmaint.demo.quality import AlertQuality
from predmaint.demo.record import RunRecord
from predmaint.demo.timeline import EventKind, Timeline

if TYPE_CHECKING:
    import plotly.graph_objects as go


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

    def pct(v: float) -> str:
        return f"{v:.0%}"

    m = quality.metrics

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
        f"recall with >= {quality.min_lead_h:g} h lead",
        "mean lead time",
        "alerts",
        "flagged machine-hours",
        "failures in the live phase",
        "alert rule",
    ]
    values = [
        f"{pct(m.precision)} ({m.true_alerts}/{m.alerts})",
        f"{pct(quality.precision_outside_drift)} "
        f"({quality.true_alerts_outside_drift}/{quality.alerts_outside_drift})",
        f"{pct(quality.precision_during_drift)} "
        f"({quality.true_alerts_during_drift}/{quality.alerts_during_drift})",
        str(quality.drift_suspect_rows),
        f"{pct(m.recall)} ({m.detected}/{m.failures})",
        f"{pct(m.recall_24h)} ({m.detected_24h}/{m.failures})",
        "n/a" if m.mean_lead_h is None else f"{m.mean_lead_h:.1f} h",
        str(m.alerts),
        str(quality.flags),
        str(m.failures),
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
