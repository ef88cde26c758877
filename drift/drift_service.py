"""The drift sidecar: FastAPI over :mod:`drift.monitor` (default port 8001).

Run it with ``predmaint drift serve`` or ``uvicorn --factory drift.drift_service:create_app``.

Routes:

- ``GET /drift``: the latest check of the tailed window (``?refresh=true`` tails and checks now).
- ``POST /drift``: ``{}`` checks the tailed window now; ``{"current": [rows]}`` checks those rows against
  the serving reference; ``{"reference": [rows], "current": [rows]}`` compares two ad-hoc datasets
  (any numeric columns). Every answer has ``drift_detected`` (true/false), ``status`` (``ok`` or
  ``no_verdict`` with a ``reason``), ``drifted_share``, per-column ``score``/``threshold``/``drifted``,
  ``excluded`` columns with reasons, the ``window`` and the ``reference`` (model version and hash).
- ``GET /drift/report``: the Evidently HTML report of the latest check.
- ``GET /metrics``: Prometheus text (custom collector, values computed at scrape time).
- ``GET /health/live``, ``GET /health/ready`` (ready = a reference is loaded and the loop runs;
  ``source`` says what the last registry poll found: ``ok``, ``no_champion``, ``unreachable``,
  ``misconfigured`` or ``error``, with the reason).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from core.bundle import frame_hash
from core.bundle_source import BundleSource as ReferenceSource
from core.bundle_source import PathSource, RegistrySource
from core.contract import FieldError, describe_errors
from core.layout import DataLayout
from drift import metric_names as names
from drift.calibration import calibrate
from drift.detector import DriftCheck, ReferenceInfo, check_drift, window_info
from drift.errors import BodyTooLarge, DriftError, InvalidDriftRequest, NoReport
from drift.fleet import read_machine_types
from drift.monitor import DriftMonitor
from drift.sequential import KOfN
from drift.settings import DriftSettings
from drift.tailer import LogTailer, SlidingWindow

log = logging.getLogger("predmaint.drift")

MAX_ABS_VALUE: Final = 1e12
"""Largest magnitude a ``POST /drift`` value may have: far beyond any sensor's range, and squares of
it stay far from float overflow (``1e308`` once answered 500 from the histogram code)."""
Value = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE)]
Row = dict[str, Value | None]


class DriftRequest(BaseModel):
    """Body of ``POST /drift``. Rows are objects of column name to number (null = missing)."""

    model_config = ConfigDict(extra="forbid")

    current: list[Row] | None = None
    reference: list[Row] | None = None


_REQUEST = TypeAdapter(DriftRequest)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _answer(check: DriftCheck, monitor: DriftMonitor | None = None) -> Response:
    """The check; a check of the tailed window also says what the log lost (``inference_log``)."""
    payload = check.result.model_dump(mode="json")
    if monitor is not None:
        state = monitor.tailer.state
        payload["inference_log"] = {
            "rows_read_total": state.rows_read_total,
            "rows_lost_total": state.rows_lost_total,
            "segments_skipped_total": state.segments_skipped_total,
            "bad_lines_total": state.bad_lines_total,
        }
    return _json(payload)


class DriftCollector:
    """Yields the drift metrics at scrape time from the monitor's latest check and the tailer."""

    def __init__(self, monitor: DriftMonitor) -> None:
        self.monitor = monitor

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        check, at = self.monitor.latest()
        result = check.result if check is not None else None
        score = GaugeMetricFamily(
            "predmaint_drift_score",
            "Normalised Wasserstein distance of each feature in the latest check (reference std units)",
            labels=["feature"],
        )
        if result is not None:
            for feature, column in result.columns.items():
                score.add_metric([feature], column.score)
        yield score
        yield GaugeMetricFamily(
            names.DRIFT_DETECTED,
            "1 while fleet drift is sustained (k of the last n calibrated steps drifted), 0 otherwise; "
            "the retrain alert's input",
            value=1.0 if result is not None and result.drift_detected else 0.0,
        )
        yield GaugeMetricFamily(
            names.DRIFT_CHECK_DETECTED,
            "1 when the latest single check found fleet drift (calibrated input drift or fleet-wide "
            "alerts), 0 otherwise",
            value=1.0 if result is not None and result.check_drift_detected else 0.0,
        )
        fleet = result.fleet if result is not None else None
        faults = GaugeMetricFamily(
            names.FAULTS_SUSPECTED, "Machines alerting in the window while the fleet did not move"
        )
        alerting = GaugeMetricFamily(
            names.ALERTING_MACHINES_SHARE,
            "Share of each machine type's machines alerting in the window (0-1)",
            labels=[names.MACHINE_TYPE_LABEL],
        )
        prediction = GaugeMetricFamily(
            names.PREDICTION_DRIFT_SCORE,
            "Normalised Wasserstein distance of each machine type's anomaly scores from the reference's",
            labels=[names.MACHINE_TYPE_LABEL],
        )
        if fleet is not None:
            faults.add_metric([], fleet.faults_suspected)
            for kind, signals in fleet.by_type.items():
                alerting.add_metric([kind], signals.alerting_share)
                if signals.prediction_drift_score is not None:
                    prediction.add_metric([kind], signals.prediction_drift_score)
        yield faults
        yield alerting
        yield prediction
        threshold = GaugeMetricFamily(
            names.DRIFT_THRESHOLD,
            "Threshold of each feature in the latest check (calibrated from the reference, or fixed)",
            labels=[names.COLUMN_LABEL],
        )
        if result is not None:
            for feature, column in result.columns.items():
                threshold.add_metric([feature], column.threshold)
        yield threshold
        calibration = result.calibration if result is not None else None
        fap = GaugeMetricFamily(
            names.DRIFT_FALSE_ALARM_PROBABILITY,
            "Calibrated probability that one check of a normal window is called drift",
        )
        seconds = GaugeMetricFamily(
            names.DRIFT_CALIBRATION_SECONDS, "Wall time of the calibration the latest check used"
        )
        if calibration is not None:
            fap.add_metric([], calibration.false_alarm_probability)
            seconds.add_metric([], calibration.duration_s)
        yield fap
        yield seconds
        arl0 = GaugeMetricFamily(
            names.DRIFT_SUSTAINED_ARL0_STEPS,
            "Expected steps between false alarms of the sustained verdict (independent steps)",
        )
        if result is not None and result.sequential is not None:
            arl0.add_metric([], result.sequential.arl0_steps)
        yield arl0
        yield GaugeMetricFamily(
            "predmaint_drift_verdict",
            "1 when the latest check reached a verdict, 0 when it could not (see GET /drift reason)",
            value=1.0 if result is not None and result.status == "ok" else 0.0,
        )
        share = GaugeMetricFamily(
            "predmaint_drift_share", "Share of compared features that drifted in the latest check (0-1)"
        )
        if result is not None and result.drifted_share is not None:
            share.add_metric([], result.drifted_share)
        yield share
        yield GaugeMetricFamily(
            "predmaint_drift_share_threshold",
            "Drifted share at or above which the dataset counts as drifted",
            value=self.monitor.config.drift_share,
        )
        yield GaugeMetricFamily(
            "predmaint_drift_window_rows",
            "Rows in the sliding window now",
            value=len(self.monitor.tailer.window),
        )
        since = GaugeMetricFamily(
            "predmaint_drift_seconds_since_last_check", "Seconds since the latest check of the window"
        )
        if at is not None:
            since.add_metric([], max(time.time() - at, 0.0))
        yield since
        duration = GaugeMetricFamily(
            "predmaint_drift_check_duration_seconds", "Wall time of the latest check of the window"
        )
        if result is not None:
            duration.add_metric([], result.duration_s)
        yield duration
        reference = self.monitor.reference
        info = InfoMetricFamily("predmaint_drift_reference", "The serving model's reference sample")
        if reference is not None:
            info.add_metric(
                [],
                {
                    "model_version": reference.info.model_version or "",
                    "reference_hash": reference.info.reference_hash,
                },
            )
        yield info
        state = self.monitor.tailer.state
        for name, value, text in (
            ("rows_read", state.rows_read_total, "Inference log rows read into the window"),
            ("rows_lost", state.rows_lost_total, "Rows missing from the log sequence (retention, full disk)"),
            ("segments_skipped", state.segments_skipped_total, "Log segments deleted before they were read"),
            ("bad_lines", state.bad_lines_total, "Log lines that could not be parsed"),
        ):
            yield CounterMetricFamily(f"predmaint_drift_tailer_{name}", text, value=value)
        yield CounterMetricFamily(
            "predmaint_drift_checks", "Checks of the window since start", value=self.monitor.checks_total
        )


def _source(settings: DriftSettings, layout: DataLayout) -> ReferenceSource:
    if settings.model_path is not None:
        return PathSource(settings.model_path)
    return RegistrySource(
        tracking_uri=settings.resolved_tracking_uri(layout),
        name=settings.model_name,
        cache_dir=settings.resolved_cache_dir(),
    )


_otel_configured = False


def _configure_telemetry(settings: DriftSettings) -> None:
    """Azure Monitor OpenTelemetry, only when a connection string is set; once per process."""
    global _otel_configured
    if settings.applicationinsights_connection_string is None or _otel_configured:
        return
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=settings.applicationinsights_connection_string.get_secret_value(),
        logger_name="predmaint.drift",
    )
    _otel_configured = True


def build_monitor(
    settings: DriftSettings, layout: DataLayout, source: ReferenceSource | None = None
) -> DriftMonitor:
    window = SlidingWindow(settings.window_rows, settings.window_seconds)
    tailer = LogTailer(
        settings.resolved_log_dir(layout),
        settings.resolved_state_path(layout),
        window,
        segment_bytes=settings.segment_bytes,
    )
    return DriftMonitor(
        source if source is not None else _source(settings, layout),
        tailer,
        settings.drift_config,
        exclude_anomalies=settings.exclude_anomalies,
        max_anomaly_share=settings.max_anomaly_share,
        check_interval_s=settings.check_interval_s,
        tail_interval_s=settings.tail_interval_s,
        poll_interval_s=settings.poll_interval_s,
        calibrated=settings.threshold_mode == "calibrated",
        window_hours=settings.window_hours,
        false_alarm_probability=settings.false_alarm_probability,
        calibration_draws=settings.calibration_draws,
        sustained=KOfN(settings.sustain_k, settings.sustain_n),
        step_rows=settings.resolved_step_rows,
        machine_types=read_machine_types(settings.machine_types_path),
        machine_alert_share=settings.machine_alert_share,
        fleet_share=settings.fleet_share,
    )


def _get_monitor(request: Request) -> DriftMonitor:
    monitor: DriftMonitor = request.app.state.monitor
    return monitor


def _get_settings(request: Request) -> DriftSettings:
    settings: DriftSettings = request.app.state.settings
    return settings


MonitorDep = Annotated[DriftMonitor, Depends(_get_monitor)]
SettingsDep = Annotated[DriftSettings, Depends(_get_settings)]


def _frame(rows: list[Row], field: str, settings: DriftSettings) -> Any:
    import pandas as pd

    if len(rows) > settings.max_request_rows:
        raise InvalidDriftRequest(
            [
                FieldError(
                    field=field,
                    rule="too_long",
                    message=f"at most {settings.max_request_rows} rows, got {len(rows)}",
                )
            ]
        )
    columns = len({name for row in rows for name in row})
    if len(rows) * columns > settings.max_request_cells:
        raise InvalidDriftRequest(
            [
                FieldError(
                    field=field,
                    rule="too_many_cells",
                    message=f"at most {settings.max_request_cells} rows x columns, got "
                    f"{len(rows)} x {columns}",
                )
            ]
        )
    frame = pd.DataFrame.from_records(rows).astype("float64") if rows else pd.DataFrame()
    if frame.shape[1] > settings.max_request_columns:
        raise InvalidDriftRequest(
            [
                FieldError(
                    field=field,
                    rule="too_many_columns",
                    message=f"at most {settings.max_request_columns} columns, got {frame.shape[1]}",
                )
            ]
        )
    return frame


def _parse(body: bytes, settings: DriftSettings) -> DriftRequest:
    if len(body) > settings.max_body_bytes:
        raise BodyTooLarge(f"body is {len(body)} bytes, at most {settings.max_body_bytes}")
    if not body.strip():
        return DriftRequest()
    try:
        return _REQUEST.validate_json(body)
    except ValidationError as exc:
        raise InvalidDriftRequest(describe_errors(exc)) from exc


def create_app(
    settings: DriftSettings | None = None,
    *,
    layout: DataLayout | None = None,
    registry: CollectorRegistry | None = None,
    source: ReferenceSource | None = None,
) -> FastAPI:
    """The sidecar app. ``registry`` receives the metrics (default: a fresh one, served on /metrics);
    ``source`` overrides where the reference comes from (tests)."""
    settings = settings or DriftSettings()
    layout = layout or DataLayout.from_env()
    registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
    monitor = build_monitor(settings, layout, source)
    registry.register(DriftCollector(monitor))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _configure_telemetry(settings)
        if settings.background:
            monitor.start()
        else:
            await run_in_threadpool(monitor.refresh_reference)  # once; the caller drives the rest
        try:
            yield
        finally:
            await run_in_threadpool(monitor.stop)

    app = FastAPI(
        title="pred-maint drift sidecar",
        version="1",
        lifespan=lifespan,
        summary="Evidently data drift (normalised Wasserstein) of live model inputs against the serving "
        "model's reference sample.",
    )
    app.state.monitor = monitor
    app.state.settings = settings
    app.state.registry = registry

    @app.exception_handler(DriftError)
    async def _domain_error(request: Request, exc: DriftError) -> Response:
        detail = [e.model_dump() for e in exc.errors] if isinstance(exc, InvalidDriftRequest) else None
        return _json({"error": exc.code, "message": str(exc), "detail": detail}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [e.model_dump() for e in describe_errors(list(exc.errors()))]
        return _json({"error": "invalid_request", "message": "invalid request", "detail": errors}, 422)

    @app.get("/drift", summary="The latest check of the tailed window")
    def get_drift(
        monitor: MonitorDep, refresh: Annotated[bool, Query(description="tail and check now")] = False
    ) -> Response:
        check, _ = monitor.latest()
        if refresh or check is None:
            monitor.tail()
            check = monitor.check_window()
        return _answer(check, monitor)

    @app.post(
        "/drift",
        summary="Check now: the window, a batch against the serving reference, or two ad-hoc datasets",
        openapi_extra={
            "requestBody": {"content": {"application/json": {"schema": DriftRequest.model_json_schema()}}}
        },
    )
    async def post_drift(request: Request, monitor: MonitorDep, settings: SettingsDep) -> Response:
        request_body = _parse(await request.body(), settings)
        return await run_in_threadpool(_post_drift, request_body, monitor, settings)

    def _post_drift(body: DriftRequest, monitor: DriftMonitor, settings: DriftSettings) -> Response:
        if body.current is None:
            if body.reference is not None:
                raise InvalidDriftRequest(
                    [FieldError(field="current", rule="missing", message="required when reference is given")]
                )
            monitor.tail()
            return _answer(monitor.check_window(), monitor)
        current = _frame(body.current, "current", settings)
        if body.reference is None:
            return _answer(monitor.check_rows(current))
        reference = _frame(body.reference, "reference", settings)
        numeric = [c for c in reference.columns if c in current.columns]
        info = ReferenceInfo(
            model_version=None,
            reference_hash=frame_hash(reference[numeric]) if numeric else "sha256:",
            rows=len(reference),
            source="request",
        )
        # Ad hoc: calibrated on the reference given, for this window size, the same way as the
        # sidecar's own (rows in the order sent; not cached: the reference is new each time).
        calibration = (
            calibrate(
                reference[numeric],
                numeric,
                len(current),
                reference_hash=info.reference_hash,
                false_alarm_probability=monitor.false_alarm_probability,
                draws=monitor.calibration_draws,
            )
            if monitor.calibrated and numeric
            else None
        )
        check = check_drift(
            reference,
            current,
            config=monitor.config,
            reference_info=info,
            window=window_info(current),
            calibration=calibration,
        )
        return _answer(check)

    @app.get(
        "/drift/report", response_class=HTMLResponse, summary="Evidently HTML report of the latest check"
    )
    def get_report(monitor: MonitorDep) -> HTMLResponse:
        check, _ = monitor.latest()
        if check is None:
            raise NoReport("no check has run yet")
        html = check.html()
        if html is None:
            raise NoReport(f"the latest check reached no verdict: {check.result.reason}")
        return HTMLResponse(html)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health/live")
    def live() -> Response:
        return _json({"status": "live"})

    @app.get("/health/ready")
    def ready(monitor: MonitorDep, settings: SettingsDep) -> Response:
        problems = []
        if monitor.reference is None:
            problems.append(monitor.reference_error or "no reference")
        if settings.background and not monitor.running:
            problems.append("monitor loop is not running")
        # the reference source's last poll shows even while a loaded reference serves
        source = None
        if monitor.source is not None:
            source = {
                "source": monitor.source.description,
                "state": monitor.source_state,
                "reason": monitor.reference_error,
            }
        if problems:
            return _json({"status": "not_ready", "reasons": problems, "source": source}, 503)
        ref = monitor.reference
        assert ref is not None
        lost = monitor.tailer.state.rows_lost_total
        degraded = [f"inference_log_rows_lost: {lost}"] if lost else []
        return _json(
            {
                "status": "degraded" if degraded else "ready",
                "reasons": degraded,
                "rows_lost_total": lost,
                "model_version": ref.info.model_version,
                "reference_hash": ref.info.reference_hash,
                "window_rows": len(monitor.tailer.window),
                "source": source,
            }
        )

    return app
