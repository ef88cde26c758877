"""The Function handlers, called directly with azure.functions.HttpRequest. AzureML is faked in memory
(fake_azure): a job list with tags and a start() that records submissions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import yaml

from functions import function_app
from functions.azureml_runs import AzureMLRunBackend
from functions.local_runs import LocalRunBackend
from functions.retrain_trigger import TAG_ALERT_KEY, RetrainTrigger, RunInfo

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class FakeAzureJobs:
    """In-memory stand-in for AzureML's job list and pipeline submission."""

    def __init__(self) -> None:
        self.runs: list[RunInfo] = []
        self.started: list[tuple[str, dict[str, str]]] = []

    def recent_runs(self, since: datetime) -> list[RunInfo]:
        return [r for r in self.runs if r.started_at >= since or r.active]

    def start(self, reason: str, tags: dict[str, str]) -> str:
        run_id = f"job-{len(self.started) + 1}"
        self.started.append((reason, tags))
        self.runs.append(RunInfo(run_id=run_id, status="running", started_at=clock.now, tags=tags))
        return run_id

    def finish_all(self) -> None:
        self.runs = [r.model_copy(update={"status": "completed"}) for r in self.runs]


class _Clock:
    now = NOW

    def __call__(self) -> datetime:
        return self.now


clock = _Clock()


@pytest.fixture
def fake_azure() -> Iterator[FakeAzureJobs]:
    jobs = FakeAzureJobs()
    clock.now = NOW
    function_app.use_trigger(RetrainTrigger(jobs, cooldown=timedelta(hours=6), clock=clock))
    yield jobs
    function_app.use_trigger(None)


def _alert(
    condition: str = "Fired", alert_id: str = "/subscriptions/s/alerts/a1", fired: str | None = None
) -> dict:
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": alert_id,
                "alertRule": "PredMaintDriftDetected",
                "severity": "Sev3",
                "signalType": "Metric",
                "monitorCondition": condition,
                "monitoringService": "Prometheus",
                "firedDateTime": fired or "2026-11-27T11:59:00.123Z",
                **({"resolvedDateTime": "2026-11-27T12:30:00Z"} if condition == "Resolved" else {}),
            },
            "alertContext": {},
        },
    }


def _post(body: bytes | dict) -> func.HttpResponse:
    handler = function_app.retrain.build().get_user_function()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = func.HttpRequest(
        method="POST", url="/api/retrain", headers={"content-type": "application/json"}, body=raw
    )
    return handler(request)


def _answer(response: func.HttpResponse) -> dict[str, Any]:
    return json.loads(response.get_body())


def test_app_declares_a_function_level_http_trigger_and_a_timer() -> None:
    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    assert set(functions) == {"retrain", "retrain_check"}
    bindings = json.loads(functions["retrain"].get_function_json())["bindings"]
    http = next(b for b in bindings if b["type"] == "httpTrigger")
    assert http["authLevel"].lower() == "function" and http["methods"] == ["POST"]
    timer = json.loads(functions["retrain_check"].get_function_json())["bindings"][0]
    assert timer["type"] == "timerTrigger" and timer["schedule"] == "%RETRAIN_TIMER_SCHEDULE%"


def test_fired_alert_starts_exactly_one_run(fake_azure: FakeAzureJobs) -> None:
    response = _post(_alert())
    assert response.status_code == 200
    answer = _answer(response)
    assert answer["action"] == "started" and answer["run_id"] == "job-1"
    assert len(fake_azure.started) == 1
    tags = fake_azure.started[0][1]
    assert tags[TAG_ALERT_KEY].startswith("/subscriptions/s/alerts/a1|2026-11-27T11:59:00.123")


def test_resolved_alert_starts_nothing(fake_azure: FakeAzureJobs) -> None:
    answer = _answer(_post(_alert("Resolved")))
    assert answer["action"] == "skipped" and answer["reason"] == "alert resolved"
    assert fake_azure.started == []


def test_duplicate_alert_starts_nothing_even_after_the_run_finished(fake_azure: FakeAzureJobs) -> None:
    _post(_alert())
    fake_azure.finish_all()
    clock.now = NOW + timedelta(days=1)  # past the cooldown: only the duplicate rule can stop it
    answer = _answer(_post(_alert()))
    assert answer["action"] == "skipped" and answer["reason"].startswith("duplicate")
    assert len(fake_azure.started) == 1


def test_alert_storm_while_running_and_in_cooldown_starts_one_run(fake_azure: FakeAzureJobs) -> None:
    _post(_alert(fired="2026-11-27T11:00:00Z"))
    running = _answer(_post(_alert(alert_id="a2", fired="2026-11-27T11:05:00Z")))
    assert running["action"] == "skipped" and "still running" in running["reason"]
    fake_azure.finish_all()
    clock.now = NOW + timedelta(hours=1)
    cooling = _answer(_post(_alert(alert_id="a3", fired="2026-11-27T12:55:00Z")))
    assert cooling["action"] == "skipped" and cooling["reason"].startswith("cooldown")
    clock.now = NOW + timedelta(hours=7)
    later = _answer(_post(_alert(alert_id="a4", fired="2026-11-27T18:55:00Z")))
    assert later["action"] == "started"
    assert len(fake_azure.started) == 2


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        ({"schemaId": "azureMonitorCommonAlertSchema", "data": {}}, "data.essentials"),
        ({"data": {"essentials": {"alertId": "a", "monitorCondition": "Maybe"}}}, "monitorCondition"),
        ({"data": {"essentials": {"alertId": "a", "monitorCondition": "Fired"}}}, "firedDateTime"),
        ({"hello": "world"}, "neither"),
        ({"drift_detected": "perhaps"}, "drift_detected"),
    ],
)
def test_malformed_payload_is_422_invalid_input_naming_the_field(
    fake_azure: FakeAzureJobs, body: Any, names: str
) -> None:
    response = _post(body)
    answer = _answer(response)
    assert response.status_code == 422 and answer["error"] == "invalid_input"
    assert names in answer["message"] and answer["detail"][0]["field"] in answer["message"]
    assert fake_azure.started == []


def test_drift_verdict_is_accepted_as_a_signal(fake_azure: FakeAzureJobs) -> None:
    assert _answer(_post({"drift_detected": False}))["action"] == "skipped"
    answer = _answer(
        _post({"drift_detected": True, "drifted_share": 0.75, "reference": {"model_version": "2"}})
    )
    assert answer["action"] == "started" and "model 2" in answer["reason"]


def test_run_list_failure_is_503(fake_azure: FakeAzureJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(since: datetime) -> list[RunInfo]:
        raise ConnectionError("workspace unreachable")

    monkeypatch.setattr(fake_azure, "recent_runs", broken)
    response = _post(_alert())
    answer = _answer(response)
    assert response.status_code == 503 and answer["error"] == "run_backend_unavailable"
    assert "workspace unreachable" in answer["message"] and response.headers["Retry-After"]


class _Job:
    def __init__(
        self, name: str, status: str, created: datetime, tags: dict[str, str], experiment: str
    ) -> None:
        self.name, self.status, self.tags, self.experiment_name, self.type = (
            name,
            status,
            tags,
            experiment,
            "pipeline",
        )
        self.creation_context = type("C", (), {"created_at": created})()


def test_azureml_backend_reads_state_from_the_fake_azure_job_list() -> None:
    jobs = [
        _Job("old", "Completed", NOW - timedelta(days=30), {"trigger": "manual"}, "pred-maint-training"),
        _Job("busy", "Running", NOW - timedelta(days=30), {"trigger": "alert", TAG_ALERT_KEY: "k"}, "x"),
        _Job("unrelated", "Running", NOW, {}, "another-experiment"),
    ]
    submitted: list[dict[str, Any]] = []
    client = type(
        "MLClient", (), {"jobs": type("Jobs", (), {"list": staticmethod(lambda **kw: iter(jobs))})()}
    )()

    def submit(path: Path, overrides: dict[str, str], **kwargs: Any) -> Any:
        submitted.append(kwargs)
        return type("Job", (), {"name": "new-job"})()

    backend = AzureMLRunBackend(client, Path("aml/pipelines/train.yml"), submit=submit)
    runs = backend.recent_runs(NOW - timedelta(days=7))
    assert [(r.run_id, r.status) for r in runs] == [("busy", "running")]
    trigger = RetrainTrigger(backend, clock=lambda: NOW)
    assert "still running" in trigger.handle(_alert()).reason
    assert backend.start("why", {"a": "b"}) == "new-job" and submitted[0]["tags"] == {"a": "b"}
    assert submitted[0]["client"] is client


def test_local_backend_runs_in_the_background_and_its_records_are_the_state(tmp_path: Path) -> None:
    import threading

    release = threading.Event()
    calls: list[Path] = []

    def runner(path: Path, overrides: dict[str, str]) -> None:
        calls.append(path)
        release.wait(10)

    backend = LocalRunBackend(tmp_path / "runs", Path("aml/pipelines/train.yml"), runner=runner)
    trigger = RetrainTrigger(backend)
    first = trigger.handle(_alert())
    assert first.action == "started"  # returned while the run is still going
    second = trigger.handle(_alert(alert_id="other"))
    assert second.action == "skipped" and "still running" in second.reason
    release.set()
    backend.wait(10)
    (run,) = backend.recent_runs(datetime.now(UTC) - timedelta(days=1))
    assert run.status == "completed" and calls == [Path("aml/pipelines/train.yml")]
    assert trigger.handle(_alert(alert_id="third")).reason.startswith("cooldown")


def test_local_backend_counts_runs_from_the_pipeline_runners_registry(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    (runs_dir / "manual-1").mkdir(parents=True)
    started = datetime.now(UTC) - timedelta(minutes=5)
    record = {"run_id": "manual-1", "status": "running", "started_at": started.isoformat(), "tags": {}}
    (runs_dir / "manual-1" / "run.json").write_text(json.dumps(record))
    backend = LocalRunBackend(runs_dir, Path("aml/pipelines/train.yml"), runner=lambda p, o: None)
    decision = RetrainTrigger(backend).handle(_alert())
    assert decision.action == "skipped" and "manual-1 is still running" in decision.reason


# --- Alertmanager webhook (self-managed Prometheus) -----------------------------------------------


def _am_alert(
    name: str = "PredMaintDriftDetected",
    status: str = "firing",
    starts: str = "2026-11-27T11:45:00.123456789Z",
    fingerprint: str = "5a1c0ffee0ddba11",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "warning", "action": "retrain"},
        "annotations": {"summary": "drift"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T12:30:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=max%28predmaint_drift_detected%29",
        "fingerprint": fingerprint,
    }


def _am(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """An Alertmanager webhook notification as 0.25 sends it (version 4)."""
    alerts = alerts or (_am_alert(),)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="PredMaintDriftDetected"}',
        "truncatedAlerts": 0,
        "status": status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "receiver": "retrain",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts),
    }


def test_retrain_alert_name_is_the_rule_files_retrain_alert() -> None:
    from drift.alert_rule import DRIFT_ALERT, RULES_PATH
    from functions.signals import RETRAIN_ALERT

    document = yaml.safe_load(RULES_PATH.read_text())
    routed = [
        r["alert"] for g in document["groups"] for r in g["rules"] if r["labels"]["action"] == "retrain"
    ]
    assert routed == [RETRAIN_ALERT] == [DRIFT_ALERT]


def test_alertmanager_firing_retrain_alert_starts_one_run_and_repeats_are_duplicates(
    fake_azure: FakeAzureJobs,
) -> None:
    answer = _answer(_post(_am()))
    assert answer["action"] == "started" and "Alertmanager" in answer["reason"]
    assert (
        fake_azure.started[0][1][TAG_ALERT_KEY]
        == "alertmanager|5a1c0ffee0ddba11|2026-11-27T11:45:00.123456+00:00"
    )
    fake_azure.finish_all()
    clock.now = NOW + timedelta(days=1)  # past the cooldown: Alertmanager's repeat_interval resend
    repeat = _answer(_post(_am()))
    assert repeat["action"] == "skipped" and repeat["reason"].startswith("duplicate")
    assert len(fake_azure.started) == 1


def test_alertmanager_new_episode_within_the_cooldown_starts_nothing(fake_azure: FakeAzureJobs) -> None:
    _post(_am())
    fake_azure.finish_all()
    clock.now = NOW + timedelta(hours=2)
    again = _answer(_post(_am(_am_alert(starts="2026-11-27T13:40:00Z"))))
    assert again["action"] == "skipped" and again["reason"].startswith("cooldown")
    clock.now = NOW + timedelta(hours=7)
    later = _answer(_post(_am(_am_alert(starts="2026-11-27T18:40:00Z"))))
    assert later["action"] == "started" and len(fake_azure.started) == 2


def test_alertmanager_faults_alert_never_starts_a_run(fake_azure: FakeAzureJobs) -> None:
    answer = _answer(
        _post(_am(_am_alert("PredMaintFaultsSuspected"), _am_alert("PredMaintDriftSidecarDown")))
    )
    assert answer["action"] == "skipped"
    assert answer["reason"].startswith(
        "not the retrain alert: PredMaintDriftSidecarDown, PredMaintFaultsSuspected"
    )
    assert fake_azure.started == []


def test_alertmanager_resolved_retrain_alert_starts_nothing_even_in_a_firing_group(
    fake_azure: FakeAzureJobs,
) -> None:
    resolved = _answer(_post(_am(_am_alert(status="resolved"))))
    assert resolved["action"] == "skipped" and resolved["reason"] == "alert resolved"
    mixed = _am(_am_alert(status="resolved"), _am_alert("PredMaintFaultsSuspected"))
    assert mixed["status"] == "firing"
    assert _answer(_post(mixed))["reason"] == "alert resolved"
    assert fake_azure.started == []


def _broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    payload = _am()
    change(payload)
    return payload


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p.update(status="pending"), "status"),
        (lambda p: p.update(alerts=[]), "alerts: required non-empty list"),
        (lambda p: p["alerts"][0]["labels"].pop("alertname"), "alerts[0].labels.alertname"),
        (lambda p: p["alerts"][0].update(labels=None), "alerts[0].labels"),
        (lambda p: p["alerts"][0].update(status="active"), "alerts[0].status"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
    ],
)
def test_malformed_alertmanager_payload_is_422_naming_the_field(
    fake_azure: FakeAzureJobs, change: Callable[[dict[str, Any]], None], names: str
) -> None:
    response = _post(_broken(change))
    assert response.status_code == 422 and _answer(response)["error"] == "invalid_input"
    assert names in _answer(response)["message"]
    assert fake_azure.started == []
