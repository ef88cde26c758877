"""The alerting path with real Prometheus and Alertmanager on loopback: a tiny metrics server
exporting the sidecar's verdict, Prometheus evaluating the chart's rule file (``for`` scaled down),
Alertmanager's webhook reaching the local retrain trigger endpoint, which starts one run. Skips
without the binaries (fails under CI, where .ci/run installs them)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from functions.local_endpoint import LocalTriggerEndpoint
from functions.local_runs import LocalRunBackend
from functions.retrain_trigger import TAG_ALERT_KEY, RetrainTrigger
from functions.signals import RETRAIN_ALERT
from predmaint.demo.processes import ManagedProcess, free_port
from predmaint.demo.prometheus import Binaries, prepare_stack
from tests.prometheus_tools import ALERTMANAGER_NAMES, require_binary
from tests.waiting import wait_until

HOST = "127.0.0.1"
TIME_SCALE = 450.0
"""15 m -> 2 s: the retrain alert fires about 2 s after Prometheus first sees the verdict."""
DEADLINE_S = 45.0


@pytest.fixture(scope="module")
def binaries() -> Binaries:
    return Binaries(prometheus=require_binary("prometheus"), alertmanager=require_binary(*ALERTMANAGER_NAMES))


@pytest.fixture
def sidecar_metrics() -> Iterator[str]:
    """``host:port`` of a metrics server with the sidecar's names: fleet drift, a few faults."""
    registry = CollectorRegistry()
    Gauge("predmaint_drift_detected", "sustained fleet drift", registry=registry).set(1)
    Gauge("predmaint_drift_verdict", "a verdict was reached", registry=registry).set(1)
    Gauge("predmaint_faults_suspected", "machines alerting alone", registry=registry).set(2)
    port = free_port(HOST)
    server, thread = start_http_server(port, addr=HOST, registry=registry)
    yield f"{HOST}:{port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class RecordingRunner:
    """The pipeline the local backend would run: recorded, not run (training is not under test)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []

    def __call__(self, path: Path, overrides: dict[str, str]) -> None:
        self.calls.append(overrides)


def test_prometheus_alert_reaches_the_local_trigger_through_alertmanager(
    binaries: Binaries, sidecar_metrics: str, tmp_path: Path
) -> None:
    runner = RecordingRunner()
    backend = LocalRunBackend(tmp_path / "runs", Path("aml/pipelines/train.yml"), runner=runner)
    with LocalTriggerEndpoint(RetrainTrigger(backend), HOST) as endpoint:
        stack = prepare_stack(
            tmp_path / "prometheus",
            drift_target=sidecar_metrics,
            webhook_url=endpoint.url,
            time_scale=TIME_SCALE,
            binaries=binaries,
        )
        # what the services will read is valid by their own checkers
        promtool = require_binary("promtool")
        amtool = require_binary("amtool")
        for argv in (
            [promtool, "check", "config", stack.prometheus_config],
            [promtool, "check", "rules", stack.rules],
            [amtool, "check-config", stack.alertmanager_config],
        ):
            result = subprocess.run(list(map(str, argv)), capture_output=True, text=True, check=False)
            assert result.returncode == 0, result.stdout + result.stderr
        processes = [ManagedProcess(spec, tmp_path / "logs" / f"{spec.name}.log") for spec in stack.specs]
        started = time.monotonic()
        try:
            for process in processes:
                process.start()
                process.wait_ready(20.0)
            wait_until(
                lambda: any(d.action == "started" for d in endpoint.decisions),
                DEADLINE_S,
                lambda: "no run started; logs:\n" + "\n".join(p.log_tail(10) for p in processes),
                interval=0.2,
            )
            elapsed = time.monotonic() - started
            time.sleep(2.0)  # room for a wrongly routed faults alert or a second notification
            held = httpx.get(stack.alertmanager.base_url + "/api/v2/alerts", timeout=5).json()
        finally:
            for process in processes:
                process.stop(5.0)
    logs = "\n".join(p.log_tail(10) for p in processes)
    started_runs = [d for d in endpoint.decisions if d.action == "started"]
    print(f"alert to trigger: {elapsed:.1f} s from starting the services")
    assert len(started_runs) == 1, f"decisions {endpoint.decisions} after {elapsed:.1f} s; logs:\n{logs}"
    decision = started_runs[0]
    assert decision.signal.rule == RETRAIN_ALERT and decision.signal.key is not None
    assert decision.signal.key.startswith("alertmanager|")
    assert isinstance(decision.signal.fired_at, datetime)
    # the faults alert fired too (same `for`) but Alertmanager kept it: every decision is the retrain alert
    assert {a["labels"]["alertname"] for a in held} >= {RETRAIN_ALERT, "PredMaintFaultsSuspected"}
    assert all(d.signal.rule == RETRAIN_ALERT for d in endpoint.decisions), endpoint.decisions
    backend.wait(5.0)
    assert len(runner.calls) == 1
    (run,) = backend.recent_runs(datetime.fromtimestamp(0).astimezone())
    assert run.tags[TAG_ALERT_KEY] == decision.signal.key and run.status == "completed"


def test_local_trigger_endpoint_over_http(tmp_path: Path) -> None:
    """The endpoint Alertmanager calls: decisions, 422 naming the field, 404 elsewhere (one error body)."""
    runner = RecordingRunner()
    backend = LocalRunBackend(tmp_path / "runs", Path("aml/pipelines/train.yml"), runner=runner)
    alert = {
        "status": "firing",
        "labels": {"alertname": RETRAIN_ALERT},
        "startsAt": "2026-12-01T10:00:00.000000001Z",
        "fingerprint": "f00d",
    }
    payload = {"version": "4", "groupKey": "{}", "status": "firing", "alerts": [alert]}
    with LocalTriggerEndpoint(RetrainTrigger(backend), HOST) as endpoint, httpx.Client(timeout=5) as client:
        first = client.post(endpoint.url, json=payload)
        repeat = client.post(endpoint.url, json=payload)
        bad = client.post(endpoint.url, json={**payload, "alerts": [{**alert, "startsAt": 5}]})
        junk = client.post(endpoint.url, content=b"{")
        elsewhere = client.post(endpoint.url.replace("/api/retrain", "/api/other"), json=payload)
    assert first.status_code == 200 and first.json()["action"] == "started"
    assert repeat.status_code == 200 and repeat.json()["action"] == "skipped"
    assert repeat.json()["reason"].startswith(("duplicate", "run "))  # the run may still be going
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
    assert bad.json()["detail"][0]["field"] == "alerts[0].startsAt"
    assert junk.status_code == 422 and junk.json()["detail"][0]["field"] == "body"
    assert elsewhere.status_code == 404 and elsewhere.json()["error"] == "not_found"
    backend.wait(5.0)
    assert len(runner.calls) == 1
