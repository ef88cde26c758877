"""The pred-maint Grafana dashboard as code (grafana-foundation-sdk, Grafana 11 models).

Scoring (throughput, anomaly rate, latency, errors, the inference log's backlog, the served model)
and drift (the sustained fleet verdict that feeds the retrain alert, the single-check verdict,
suspected faults, per-feature scores, prediction drift and alerting share per machine type, the
sidecar's health). Queries use only metrics that the facade and the drift sidecar export
(tests/assets/test_grafana_dashboard.py scrapes both apps to check), through a Prometheus data
source chosen on the dashboard (``datasource`` variable): in Azure, the Azure Monitor workspace that
managed Prometheus writes to (infra/main.grafana.tf provisions both).

Regenerate the committed JSON after a change: ``python -m infra.dashboards.pred_maint``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueTextMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef

JSON_PATH: Final = Path(__file__).with_name("pred-maint.json")
UID: Final = "pred-maint"
DATASOURCE_VARIABLE: Final = "datasource"
RATE_WINDOW: Final = "5m"
"""Rate window: five scrapes at managed Prometheus' default 1 min scrape interval."""

_DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")


def _query(expr: str, legend: str = "") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).range().datasource(_DATASOURCE)
    return query.legend_format(legend) if legend else query


def _series(title: str, unit: str, *queries: prometheus.Dataquery, width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(_DATASOURCE).height(8).span(width)
    for i, query in enumerate(queries):
        panel = panel.with_target(query.ref_id(chr(ord("A") + i)))
    return panel


def _stat(title: str, unit: str, query: prometheus.Dataquery, width: int = 6) -> stat.Panel:
    panel = stat.Panel().title(title).unit(unit).datasource(_DATASOURCE).height(4).span(width)
    return panel.with_target(query.ref_id("A"))


def _scoring_panels() -> list[timeseries.Panel | stat.Panel]:
    w = RATE_WINDOW
    return [
        _stat(
            "Served model version",
            "none",
            _query("max by (model_version) (predmaint_scoring_model_info)", "v{{model_version}}"),
        ).text_mode(BigValueTextMode.NAME),
        _stat(
            "Predictions per second", "reqps", _query(f"sum(rate(predmaint_scoring_predictions_total[{w}]))")
        ),
        _stat(
            "Anomaly rate",
            "percentunit",
            _query(
                f"sum(rate(predmaint_scoring_anomalies_total[{w}])) / "
                f"sum(rate(predmaint_scoring_predictions_total[{w}]))"
            ),
        ),
        _stat(
            "Model swaps (24 h)", "none", _query("sum(increase(predmaint_scoring_model_swaps_total[24h]))")
        ),
        _series(
            "Predictions and anomalies by model version",
            "reqps",
            _query(
                f"sum by (model_version) (rate(predmaint_scoring_predictions_total[{w}]))",
                "scored v{{model_version}}",
            ),
            _query(
                f"sum by (model_version) (rate(predmaint_scoring_anomalies_total[{w}]))",
                "anomalous v{{model_version}}",
            ),
        ),
        _series(
            "Request latency (p50, p99) by route",
            "s",
            *(
                _query(
                    f"histogram_quantile({q}, sum by (le, route) "
                    f"(rate(predmaint_scoring_request_duration_seconds_bucket[{w}])))",
                    f"p{round(q * 100)} {{{{route}}}}",
                )
                for q in (0.5, 0.99)
            ),
        ),
        _series(
            "Domain errors by code",
            "reqps",
            _query(f"sum by (code) (rate(predmaint_scoring_errors_total[{w}]))", "{{code}}"),
        ),
        _series(
            "Inference log: backlog and dropped rows",
            "short",
            _query("sum(predmaint_inference_log_backlog)", "backlog"),
            _query(f"sum(rate(predmaint_inference_log_dropped_records_total[{w}]))", "dropped per s"),
        ),
    ]


def _drift_panels() -> list[timeseries.Panel | stat.Panel]:
    w = RATE_WINDOW
    return [
        _stat(
            "Fleet drift (sustained: retrain alert input)",
            "bool_yes_no",
            _query("max(predmaint_drift_detected)"),
        ),
        _stat("Latest check found drift", "bool_yes_no", _query("max(predmaint_drift_check_detected)")),
        _stat("Machines suspected faulty (no retrain)", "none", _query("max(predmaint_faults_suspected)")),
        _stat("Seconds since the last check", "s", _query("max(predmaint_drift_seconds_since_last_check)")),
        _series(
            "Drifted share of features vs threshold",
            "percentunit",
            _query("max(predmaint_drift_share)", "drifted share"),
            _query("max(predmaint_drift_share_threshold)", "threshold"),
        ),
        _series(
            "Drift score per feature (reference std units)",
            "short",
            _query("max by (feature) (predmaint_drift_score)", "{{feature}}"),
        ),
        _series(
            "Prediction drift per machine type",
            "short",
            _query("max by (machine_type) (predmaint_prediction_drift_score)", "{{machine_type}}"),
        ),
        _series(
            "Share of machines alerting per machine type",
            "percentunit",
            _query("max by (machine_type) (predmaint_alerting_machines_share)", "{{machine_type}}"),
        ),
        _series(
            "Sidecar: window rows and check duration",
            "short",
            _query("max(predmaint_drift_window_rows)", "window rows"),
            _query("max(predmaint_drift_check_duration_seconds)", "check duration (s)"),
        ),
        _series(
            "Sidecar: checks and log lines it could not read",
            "short",
            _query(f"sum(rate(predmaint_drift_checks_total[{w}])) * 60", "checks per min"),
            _query(f"sum(rate(predmaint_drift_tailer_bad_lines_total[{w}])) * 60", "bad lines per min"),
            _query(f"sum(rate(predmaint_drift_tailer_rows_lost_total[{w}])) * 60", "rows lost per min"),
        ),
    ]


def build() -> dashboard.Dashboard:
    board = (
        dashboard.Dashboard("Predictive maintenance: scoring and drift")
        .uid(UID)
        .description("The facade's scoring and the drift sidecar's verdicts (azure-pred-maint-ops).")
        .tags(["pred-maint", "drift", "scoring"])
        .timezone("utc")
        .time("now-24h", "now")
        .refresh("1m")
        .readonly()
        .with_variable(
            dashboard.DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus").type("prometheus")
        )
    )
    next_id = 1
    for row, panels in (("Scoring", _scoring_panels()), ("Drift and retraining", _drift_panels())):
        board = board.with_row(dashboard.Row(row).id(next_id))
        next_id += 1
        for panel in panels:
            board = board.with_panel(panel.id(next_id))
            next_id += 1
    return board


def render() -> str:
    """The dashboard's JSON, as committed (stable key order, trailing newline)."""
    model: Any = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def queries(model: dict[str, Any]) -> list[str]:
    """Every PromQL expression in a dashboard JSON model."""
    return [t["expr"] for p in model.get("panels", []) for t in p.get("targets", []) if "expr" in t]


def main(argv: list[str] | None = None) -> int:
    """Write the JSON (default), or with ``--check`` exit 1 when the committed file is stale."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        if JSON_PATH.read_text() != text:
            print(f"{JSON_PATH} is stale: run python -m infra.dashboards.pred_maint", file=sys.stderr)
            return 1
        return 0
    JSON_PATH.write_text(text)
    print(f"wrote {JSON_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
