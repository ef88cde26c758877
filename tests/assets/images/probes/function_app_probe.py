"""Run inside the reproduced Function package (``python -c``, cwd = the zip's root, the Function
host's wwwroot): import ``function_app`` as the Python worker does, find its functions and its
pipeline, and answer one alert through the real handler. AzureML cannot exist here: its client is
``FakeMLClientNoAzure``, which lists no jobs and records the pipeline job it is given."""

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

# Nothing but the package and its requirements: not the repository, not the project's .venv.
assert importlib.util.find_spec("predmaint") is None and importlib.util.find_spec("pytest") is None, sys.path

import azure.functions as func  # noqa: E402
import function_app  # noqa: E402

from functions.azureml_runs import AzureMLRunBackend  # noqa: E402
from functions.retrain_trigger import RetrainTrigger  # noqa: E402


class FakeJobsNoAzure:
    def __init__(self) -> None:
        self.created: list = []

    def list(self, **_: object) -> list:
        return []

    def create_or_update(self, job: object) -> object:
        self.created.append(job)
        return SimpleNamespace(name="fake-job-1", status="Queued", studio_url=None, tags=job.tags)  # type: ignore[attr-defined]


class FakeMLClientNoAzure:
    def __init__(self) -> None:
        self.jobs = FakeJobsNoAzure()


root = Path.cwd().resolve()
settings = function_app.TriggerSettings()
client = FakeMLClientNoAzure()
function_app.use_trigger(RetrainTrigger(AzureMLRunBackend(client, settings.pipeline_path)))
handler = function_app.retrain.build().get_user_function()


def post(body: bytes) -> func.HttpResponse:
    request = func.HttpRequest(
        method="POST", url="/api/retrain", headers={"content-type": "application/json"}, body=body
    )
    return handler(request)


alert = {
    "schemaId": "azureMonitorCommonAlertSchema",
    "data": {
        "essentials": {
            "alertId": "/subscriptions/0/providers/Microsoft.AlertsManagement/alerts/imagecheck",
            "alertRule": "PredMaintDriftDetected",
            "monitorCondition": "Fired",
            "firedDateTime": "2026-12-01T10:00:00Z",
        }
    },
}
started = post(json.dumps(alert).encode())
job = client.jobs.created[0] if client.jobs.created else None
result = {
    "functions": sorted(f.get_function_name() for f in function_app.app.get_functions()),
    "pipeline_path": str(settings.pipeline_path),
    "pipeline_in_package": settings.pipeline_path.resolve().is_relative_to(root)
    and settings.pipeline_path.is_file(),
    "bad_json_status": post(b"{not json").status_code,
    "alert_status": started.status_code,
    "alert_body": json.loads(started.get_body()),
    "staged_code": sorted({str(node.component.code) for node in job.jobs.values()}) if job else [],
    "steps": sorted(job.jobs) if job else [],
}
print("IMAGECHECK-RESULT " + json.dumps(result))
