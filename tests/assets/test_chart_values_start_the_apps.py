"""Every values file of the chart (values.yaml and ci/*-values.yaml) renders environments that the
settings classes accept: each SCORING_*/DRIFT_* name is a setting, and the values validate (secret
references get a stand-in value), so the Pod's containers start instead of failing on their settings."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from core.layout import DATA_DIR_ENV
from drift.settings import DriftSettings
from ingest.settings import IngestSettings
from scoring.settings import ScoringSettings
from tools.validators.locate import ValidatorsMissing
from tools.validators.runners import render_chart

pytestmark = pytest.mark.assets

SETTINGS: dict[str, tuple[type[BaseSettings], str]] = {
    "facade": (ScoringSettings, "SCORING_"),
    "drift": (DriftSettings, "DRIFT_"),
    "ingest": (IngestSettings, "INGEST_"),
}
SECRET_STAND_IN = "k3y-from-the-vault-0123456789abcdef"
STAND_INS = {
    "SCORING_REDIS_URL": "rediss://:k3y@cache.invalid:6380/0",
    "INGEST_REDIS_URL": "rediss://:k3y@cache.invalid:6380/0",
}
"""Secrets whose value has a shape the settings check."""
# Variables read without the settings' prefix: a validation alias and the data layout's root.
UNPREFIXED = {"APPLICATIONINSIGHTS_CONNECTION_STRING", DATA_DIR_ENV}


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    try:
        report = render_chart(tmp_path_factory.mktemp("rendered-settings"))
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))
    out = {}
    for name, result in report["renders"].items():
        assert "error" not in result, f"{name}: {result.get('error')}"
        out[name] = [doc for doc in yaml.safe_load_all(result["manifests"]) if doc]
    return out


def _environments(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Container name -> its environment (ConfigMap values, stand-ins for secret references)."""
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"]
    out = {}
    for container in (c for pod in pods for c in pod["containers"]):
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env.update(maps[source["configMapRef"]["name"]])
        for item in container.get("env", []):
            stand_in = STAND_INS.get(item["name"], SECRET_STAND_IN)
            env[item["name"]] = item.get("value", stand_in)
        out[container["name"]] = env
    return out


def _unknown(cls: type[BaseModel], prefix: str, env: dict[str, str]) -> list[str]:
    fields = set(cls.model_fields)
    return [
        name
        for name in env
        if name not in UNPREFIXED
        and (not name.startswith(prefix) or name.removeprefix(prefix).lower() not in fields)
    ]


def test_every_values_file_renders_settings_the_apps_accept(
    scenarios: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {"values.yaml", "default", "minimal", "production"} <= set(scenarios)
    for scenario, docs in scenarios.items():
        environments = _environments(docs)
        assert {"facade", "drift"} <= set(environments) <= set(SETTINGS), scenario
        for container, env in environments.items():
            cls, prefix = SETTINGS[container]
            assert not _unknown(cls, prefix, env), (
                f"{scenario}/{container}: not settings: {_unknown(cls, prefix, env)}"
            )
            with monkeypatch.context() as m:
                for name in [n for n in os.environ if n.startswith(prefix)]:
                    m.delenv(name)
                for name, value in env.items():
                    m.setenv(name, value)
                cls()  # raises ValidationError naming the setting


def test_production_selects_the_endpoint_backend_with_its_key_and_both_api_keys(
    scenarios: dict[str, list[dict[str, Any]]],
) -> None:
    environments = _environments(scenarios["production"])
    facade, drift = environments["facade"], environments["drift"]
    assert facade["SCORING_BACKEND"] == "aml-endpoint"
    assert facade.get("SCORING_ENDPOINT_KEY") or facade.get("SCORING_ENDPOINT_TOKEN")
    assert facade["SCORING_API_KEY"] == SECRET_STAND_IN and drift["DRIFT_API_KEY"] == SECRET_STAND_IN


def test_the_sidecar_port_is_off_the_service_by_default(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    for scenario, docs in scenarios.items():
        [service] = [d for d in docs if d["kind"] == "Service"]
        ports = {p["name"] for p in service["spec"]["ports"]}
        assert ports == {"http"}, f"{scenario}: {ports}"


def test_probes_use_the_health_port_the_app_listens_on(scenarios: dict[str, list[dict[str, Any]]]) -> None:
    """The probes go to the port of ``service.health_listener`` (answered off the event loop), which
    the container's settings open (``SCORING_HEALTH_PORT`` / ``DRIFT_HEALTH_PORT``)."""
    for scenario, docs in scenarios.items():
        environments = _environments(docs)
        [pod] = [
            d["spec"]["template"]["spec"]
            for d in docs
            if d["kind"] == "Deployment"
            and any(c["name"] == "facade" for c in d["spec"]["template"]["spec"]["containers"])
        ]
        for container in (c for c in pod["containers"] if c["name"] in ("facade", "drift")):
            _cls, prefix = SETTINGS[container["name"]]
            named = {p["name"]: p["containerPort"] for p in container["ports"]}
            health_port = int(environments[container["name"]][f"{prefix}HEALTH_PORT"])
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = container[probe]["httpGet"]["port"]
                assert named.get(port, port) == health_port, f"{scenario}/{container['name']} {probe}"
