"""Azure Functions app (Python v2 programming model): the retrain trigger's edge in Azure.

- ``POST /api/retrain`` (function key): the Azure Monitor action group's webhook, common alert schema.
  200 with the decision (started or skipped, and why); otherwise the one error body of
  ``core.errors``: 422 ``invalid_input`` naming what is malformed, 503 ``run_backend_unavailable``
  when the run list cannot be read, 500 ``misconfigured`` when app settings are missing.
- timer ``retrain_check`` (``%RETRAIN_TIMER_SCHEDULE%``, an app setting in NCRONTAB form): reads the
  drift sidecar's latest verdict (``RETRAIN_DRIFT_URL``) and feeds it to the same core, so a lost
  alert still leads to one retrain; the cooldown and the running-run check keep it to one.

Deployment package (``functions/package.py``): this file, ``host.json`` and ``requirements.txt`` at
the zip's root (wwwroot), with the ``functions``, ``aml``, ``core`` and ``features`` packages beside
them. The training pipeline is found through the ``aml`` package, so the same path holds in the zip
and in a checkout. Nothing is read from the environment at import: settings and the backend are
built on first use.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal

import azure.functions as func
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

import aml
from core.errors import InvalidInput, Misconfigured, PredMaintError
from functions.azureml_runs import AzureMLRunBackend
from functions.errors import MalformedSignal
from functions.local_runs import LocalRunBackend
from functions.retrain_trigger import DEFAULT_COOLDOWN, RetrainTrigger, RunBackend
from functions.signals import parse_verdict

log = logging.getLogger("predmaint.functions")

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

TRAINING_PIPELINE: Final = Path(aml.__file__).resolve().parent / "pipelines" / "train.yml"
"""Beside this file in the zip (``wwwroot/aml``), at the repository root in a checkout."""


class TriggerSettings(BaseSettings):
    """The Function app's settings (``RETRAIN_*`` app settings)."""

    model_config = SettingsConfigDict(env_prefix="RETRAIN_", extra="ignore", frozen=True)

    backend: Literal["azureml", "local"] = "azureml"
    """``azureml``: the workspace named by the ``AZUREML_*`` app settings (``aml.submit.AzureMLSettings``),
    managed identity credential."""
    cooldown_s: float = Field(default=DEFAULT_COOLDOWN.total_seconds(), gt=0)
    pipeline_path: Path = TRAINING_PIPELINE
    drift_url: str | None = None
    """Base URL of the drift sidecar (``http://host:8001``) for the timer's periodic check."""
    drift_api_key: SecretStr | None = None
    """The sidecar's ``DRIFT_API_KEY`` when it has one (sent as ``x-api-key``)."""
    http_timeout_s: float = Field(default=10.0, gt=0, le=120)


_lock = threading.Lock()
_trigger: RetrainTrigger | None = None


def build_trigger(settings: TriggerSettings) -> RetrainTrigger:
    backend: RunBackend
    if settings.backend == "local":
        from core.layout import DataLayout

        backend = LocalRunBackend(DataLayout.from_env().runs_dir, settings.pipeline_path)
    else:
        from aml.submit import AzureMLSettings, ml_client

        try:
            workspace = AzureMLSettings()  # type: ignore[call-arg]
        except ValueError as exc:
            raise Misconfigured(f"missing app settings: {', '.join(AzureMLSettings.required_env())}") from exc
        backend = AzureMLRunBackend(
            ml_client(workspace), settings.pipeline_path, experiment_name=workspace.experiment_name
        )
    return RetrainTrigger(backend, cooldown=timedelta(seconds=settings.cooldown_s))


def use_trigger(trigger: RetrainTrigger | None) -> None:
    """Replace the process's trigger (tests, or a host that builds its own)."""
    global _trigger
    with _lock:
        _trigger = trigger


def get_trigger() -> RetrainTrigger:
    global _trigger
    with _lock:
        if _trigger is None:
            _trigger = build_trigger(TriggerSettings())
        return _trigger


def _json(body: object, status: int, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/json", headers=headers
    )


def _error(exc: PredMaintError) -> func.HttpResponse:
    return _json(exc.body(), exc.status, exc.headers or None)


@app.function_name(name="retrain")
@app.route(route="retrain", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def retrain(req: func.HttpRequest) -> func.HttpResponse:
    """Action group webhook: one alert in, one decision out."""
    try:
        payload = req.get_json()
    except ValueError:
        return _error(InvalidInput.one("body", "json_invalid", "not valid JSON"))
    try:
        decision = get_trigger().handle(payload)
    except InvalidInput as exc:
        return _error(exc)
    except PredMaintError as exc:
        log.error("retrain trigger failed: %s", exc)
        return _error(exc)
    return _json(decision.model_dump(mode="json"), 200)


@app.function_name(name="retrain_check")
@app.timer_trigger(arg_name="timer", schedule="%RETRAIN_TIMER_SCHEDULE%", run_on_startup=False)
def retrain_check(timer: func.TimerRequest) -> None:
    """Periodic check: the sidecar's latest verdict through the same decision core."""
    settings = TriggerSettings()
    if not settings.drift_url:
        log.info("retrain check: RETRAIN_DRIFT_URL not set, nothing to check")
        return
    import httpx

    try:
        key = settings.drift_api_key
        response = httpx.get(
            settings.drift_url.rstrip("/") + "/drift",
            headers={"x-api-key": key.get_secret_value()} if key is not None else None,
            timeout=settings.http_timeout_s,
        )
        response.raise_for_status()
        signal = parse_verdict(response.json())
    except (httpx.HTTPError, ValueError, MalformedSignal) as exc:
        log.warning("retrain check: no usable verdict from %s: %s", settings.drift_url, exc)
        return
    get_trigger().decide(signal)
