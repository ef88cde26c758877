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
- ``GET /health/live``, ``GET /health/ready`` (the shared shape of ``service.health``; ready = a
  reference is loaded and the loop runs; the ``reference`` check's ``state`` is what the last
  registry poll found: ``ok``, ``no_champion``, ``unreachable``, ``misconfigured`` or ``error``).

With ``DRIFT_API_KEY`` set, every route but health and metrics needs the key (``service.auth``, the
facade's mechanism). Bodies are JSON only (415 otherwise), at most ``DRIFT_MAX_BODY_BYTES`` counted
while reading (413), without duplicate keys (422); errors have the one body of ``core.errors``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from core.bundle_source import BundleSource
from core.layout import DataLayout
from drift import adhoc
from drift.collector import DriftCollector
from drift.detector import DriftCheck
from drift.errors import NoReport
from drift.fleet import read_machine_types
from drift.monitor import DriftMonitor
from drift.sequential import KOfN
from drift.settings import DriftSettings
from drift.tailer import LogTailer, SlidingWindow
from service.app import create_service_app
from service.auth import ApiKey
from service.errors import json_response
from service.health import Check
from service.json_body import parse_model
from service.metrics import HttpMetrics
from service.telemetry import configure_telemetry

SERVICE = "drift"
LOGGER = "predmaint.drift"


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
    return json_response(payload)


def build_monitor(
    settings: DriftSettings, layout: DataLayout, source: BundleSource | None = None
) -> DriftMonitor:
    window = SlidingWindow(settings.window_rows, settings.window_seconds)
    tailer = LogTailer(
        settings.resolved_log_dir(layout),
        settings.resolved_state_path(layout),
        window,
        segment_bytes=settings.segment_bytes,
    )
    return DriftMonitor(
        source if source is not None else settings.model_source(layout),
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

router = APIRouter(tags=["drift"])


@router.get("/drift", summary="The latest check of the tailed window")
def get_drift(
    monitor: MonitorDep, refresh: Annotated[bool, Query(description="tail and check now")] = False
) -> Response:
    check, _ = monitor.latest()
    if refresh or check is None:
        monitor.tail()
        check = monitor.check_window()
    return _answer(check, monitor)


@router.post(
    "/drift",
    summary="Check now: the window, a batch against the serving reference, or two ad-hoc datasets",
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": adhoc.DriftRequest.model_json_schema()}}}
    },
)
async def post_drift(request: Request, monitor: MonitorDep, settings: SettingsDep) -> Response:
    raw = await request.body()
    body = parse_model(raw, adhoc.DriftRequest) if raw.strip() else adhoc.DriftRequest()
    check = await run_in_threadpool(adhoc.run, body, monitor, settings)
    return _answer(check, monitor if body.current is None else None)


@router.get("/drift/report", response_class=HTMLResponse, summary="Evidently HTML report of the latest check")
def get_report(monitor: MonitorDep) -> HTMLResponse:
    check, _ = monitor.latest()
    if check is None:
        raise NoReport("no check has run yet")
    html = check.html()
    if html is None:
        raise NoReport(f"the latest check reached no verdict: {check.result.reason}")
    return HTMLResponse(html)


def readiness_checks(monitor: DriftMonitor, settings: DriftSettings) -> Sequence[Check]:
    """``reference`` (a reference sample is loaded; the registry's last poll) and ``monitor_loop``
    (the tail/check/poll thread runs, when the sidecar runs it): both from state in memory."""
    ref = monitor.reference
    source = monitor.source
    checks = [
        Check(
            "reference",
            ok=ref is not None,
            state=monitor.source_state if source is not None else ("ok" if ref is not None else "error"),
            reason=monitor.reference_error or (None if ref is not None else "no reference"),
            info={
                "model_version": ref.info.model_version if ref is not None else None,
                "reference_hash": ref.info.reference_hash if ref is not None else None,
                "window_rows": len(monitor.tailer.window),
            },
            private={"source": source.description if source is not None else None},
        )
    ]
    lost = monitor.tailer.state.rows_lost_total
    checks.append(
        Check(
            "inference_log",
            ok=not lost,
            state="rows_lost" if lost else "ok",
            required=False,
            reason=f"{lost} inference log rows lost (retention or a full disk)" if lost else None,
            info={"rows_lost_total": lost, "rows_read_total": monitor.tailer.state.rows_read_total},
        )
    )
    if settings.background:
        checks.append(
            Check(
                "monitor_loop",
                ok=monitor.running,
                state="running" if monitor.running else "stopped",
                reason=None if monitor.running else "monitor loop is not running",
            )
        )
    return checks


def create_app(
    settings: DriftSettings | None = None,
    *,
    layout: DataLayout | None = None,
    registry: CollectorRegistry | None = None,
    source: BundleSource | None = None,
) -> FastAPI:
    """The sidecar app. ``registry`` receives the metrics (default: a fresh one, served on /metrics);
    ``source`` overrides where the reference comes from (tests)."""
    settings = settings or DriftSettings()
    layout = layout or DataLayout.from_env()
    registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
    monitor = build_monitor(settings, layout, source)
    registry.register(DriftCollector(monitor))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        configure_telemetry(settings.applicationinsights_connection_string, logger_name=LOGGER)
        if settings.background:
            monitor.start()
        else:
            await run_in_threadpool(monitor.refresh_reference)  # once; the caller drives the rest
        try:
            yield
        finally:
            await run_in_threadpool(monitor.stop)

    app = create_service_app(
        service=SERVICE,
        title="pred-maint drift sidecar",
        summary="Evidently data drift (normalised Wasserstein) of live model inputs against the serving "
        "model's reference sample.",
        lifespan=lifespan,
        http_metrics=HttpMetrics(registry, SERVICE),
        readiness=lambda: readiness_checks(monitor, settings),
        api_key=ApiKey(settings.api_key.get_secret_value() if settings.api_key else None),
        max_body_bytes=settings.max_body_bytes,
        routers=(router,),
        metrics_in_threadpool=True,
        health_address=(settings.host, settings.health_port) if settings.health_port else None,
    )
    app.state.monitor = monitor
    app.state.settings = settings
    app.state.registry = registry
    return app
