"""``predmaint demo --prometheus``'s alerting part with the real binaries: the demo's Alerting starts
Alertmanager and Prometheus as demo services, Prometheus scrapes a sidecar-like metrics server, and
the alert lands on the demo's timeline as one triggered retrain. The live loop, training and the
real sidecar are the end-to-end test's business (tests/e2e)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from typer.testing import CliRunner

from core.layout import DataLayout
from predmaint.cli import app
from predmaint.demo.alerting import Alerting
from predmaint.demo.config import DemoConfig, Preset
from predmaint.demo.processes import ServiceGroup, free_port
from predmaint.demo.prometheus import PrometheusMissing
from predmaint.demo.record import RunRecord
from predmaint.demo.timeline import EventKind, Timeline
from tests.prometheus_tools import ALERTMANAGER_NAMES, require_binary
from tests.waiting import wait_until

HOST = "127.0.0.1"
DEADLINE_S = 45.0


@pytest.fixture
def drift_metrics() -> Iterator[tuple[str, Gauge]]:
    registry = CollectorRegistry()
    detected = Gauge("predmaint_drift_detected", "sustained fleet drift", registry=registry)
    Gauge("predmaint_drift_verdict", "a verdict was reached", registry=registry).set(1)
    port = free_port(HOST)
    server, thread = start_http_server(port, addr=HOST, registry=registry)
    yield f"http://{HOST}:{port}", detected
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _alerting(tmp_path: Path) -> tuple[Alerting, Timeline]:
    config = DemoConfig.preset(Preset.small, prometheus=True, data_dir=tmp_path / "demo")
    timeline = Timeline()
    history: Any = SimpleNamespace(end=datetime(2026, 12, 1, tzinfo=UTC))  # only its end is read here
    alerting = Alerting(
        config,
        DataLayout(tmp_path / "demo"),
        history,
        timeline,
        RunRecord(),
        first_run_started=datetime.now(UTC) - timedelta(hours=1),
    )
    return alerting, timeline


def test_demo_alerting_with_real_prometheus_triggers_one_retrain(
    tmp_path: Path, drift_metrics: tuple[str, Gauge]
) -> None:
    require_binary("prometheus")
    require_binary(*ALERTMANAGER_NAMES)
    url, detected = drift_metrics
    alerting, timeline = _alerting(tmp_path)
    sim = datetime(2026, 12, 1, tzinfo=UTC)
    with ServiceGroup(tmp_path / "logs", stop_timeout_s=5.0) as services:
        try:
            detail = alerting.use_prometheus(services, url)
            assert "Prometheus http://127.0.0.1:" in detail and "/api/retrain" in detail
            for _ in range(3):  # no drift: Prometheus scrapes, nothing fires
                sim += timedelta(hours=1)
                alerting.observe(None, sim)
                time.sleep(1.0)
            assert not timeline.of(EventKind.alert) and alerting.status == "alert inactive (Prometheus)"
            detected.set(1)
            hour = iter(range(1, 1_000_000))

            def triggered() -> bool:  # the live loop's hours go on while Prometheus decides
                alerting.observe(None, sim + timedelta(hours=next(hour)))
                return bool(timeline.of(EventKind.retrain_triggered))

            wait_until(
                triggered,
                DEADLINE_S,
                lambda: "no retrain triggered: " + "; ".join(timeline.lines()),
                interval=0.5,
            )
            services.check_alive()
        finally:
            alerting.close()
    assert len(timeline.of(EventKind.alert)) == 1, timeline.lines()
    assert len(timeline.of(EventKind.retrain_triggered)) == 1, timeline.lines()
    (alert,) = timeline.of(EventKind.alert)
    assert "from Prometheus via Alertmanager" in alert.detail
    assert (tmp_path / "demo" / "prometheus" / "drift-alert-rules.yaml").is_file()


def test_demo_prometheus_without_the_binaries_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    alerting, _ = _alerting(tmp_path)
    with ServiceGroup(tmp_path / "logs", stop_timeout_s=5.0) as services, pytest.raises(PrometheusMissing):
        alerting.use_prometheus(services, "http://127.0.0.1:1")
    result = CliRunner().invoke(app, ["demo", "--small", "--prometheus", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "prometheus and alertmanager not found" in result.output and "apt-get install" in result.output
    assert not (tmp_path / "d").exists(), "nothing may run before the check"
