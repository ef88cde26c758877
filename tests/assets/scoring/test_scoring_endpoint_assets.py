"""The AzureML endpoint assets (aml/endpoints/) load with azure-ai-ml and agree with the code; the
scoring images' pins agree with uv.lock."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from core.bundle import REGISTERED_MODEL_NAME
from scoring.schemas import InlineRequest
from scoring.settings import ScoringSettings

REPO = Path(__file__).resolve().parents[3]
ENDPOINTS = REPO / "aml" / "endpoints"


def _lock_versions() -> dict[str, str]:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return {pkg["name"]: pkg["version"] for pkg in lock["package"] if "version" in pkg}


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"\[.*\]", "", name).strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_endpoint_is_kubernetes_with_key_auth_and_leaves_traffic_to_promotion() -> None:
    from azure.ai.ml import load_online_endpoint
    from azure.ai.ml.entities import KubernetesOnlineEndpoint

    endpoint = load_online_endpoint(ENDPOINTS / "endpoint.yml")
    assert isinstance(endpoint, KubernetesOnlineEndpoint)
    assert endpoint.auth_mode == "key"
    # Traffic in the file would be re-applied by any `update -f`: only promote.yml moves it.
    assert not endpoint.traffic


@pytest.mark.parametrize("slot", ["blue", "green"])
def test_deployment_is_pinned_probed_and_sized(slot: str) -> None:
    from azure.ai.ml import load_environment, load_online_deployment
    from azure.ai.ml.entities import KubernetesOnlineDeployment, TargetUtilizationScaleSettings

    deployment = load_online_deployment(ENDPOINTS / f"{slot}.yml")
    raw = yaml.safe_load((ENDPOINTS / f"{slot}.yml").read_text())
    assert isinstance(deployment, KubernetesOnlineDeployment)
    assert deployment.name == slot and deployment.endpoint_name == "pred-maint-scoring"
    # The model version is the deploy workflow's --set, never a number in the file.
    assert "model" not in raw and "PREDMAINT_MODEL_VERSION" not in deployment.environment_variables
    given = load_online_deployment(
        ENDPOINTS / f"{slot}.yml",
        params_override=[
            {"model": f"azureml:{REGISTERED_MODEL_NAME}:7"},
            {"environment_variables.PREDMAINT_MODEL_VERSION": "7"},
        ],
    )
    assert given.model == f"{REGISTERED_MODEL_NAME}:7"
    assert given.environment_variables["PREDMAINT_MODEL_VERSION"] == "7"
    env = load_environment(ENDPOINTS / "environment.yml")
    assert raw["environment"] == f"azureml:{env.name}:{env.version}"
    code = deployment.code_configuration
    assert code is not None and code.code is not None and code.scoring_script is not None
    script = (ENDPOINTS / code.code / code.scoring_script).resolve()
    assert script == REPO / "scoring" / "score.py"
    assert deployment.request_settings is not None
    timeout_ms = deployment.request_settings.request_timeout_ms
    # the facade's default forwarding timeout gives up before the endpoint would
    assert ScoringSettings.model_fields["endpoint_timeout_s"].default * 1000 < timeout_ms
    assert ScoringSettings.model_fields["endpoint_request_timeout_ms"].default == timeout_ms
    resources = deployment.resources
    assert resources is not None and resources.requests is not None and resources.limits is not None
    assert resources.requests.cpu and resources.limits.memory
    assert isinstance(deployment.scale_settings, TargetUtilizationScaleSettings)
    assert (deployment.scale_settings.min_instances or 0) >= 2
    assert deployment.liveness_probe is not None and deployment.readiness_probe is not None
    assert deployment.liveness_probe.period and deployment.readiness_probe.period
    assert deployment.app_insights_enabled is True


def test_blue_and_green_differ_only_in_slot() -> None:
    blue = yaml.safe_load((ENDPOINTS / "blue.yml").read_text())
    green = yaml.safe_load((ENDPOINTS / "green.yml").read_text())
    for doc in (blue, green):
        doc.pop("name")
        doc["tags"].pop("slot")
    assert blue == green


def test_sample_request_is_a_valid_inline_request() -> None:
    request = InlineRequest.model_validate_json((ENDPOINTS / "sample-request.json").read_text())
    assert len(request.row_list()) >= 1
    assert json.loads((ENDPOINTS / "sample-request.json").read_text())["rows"]


@pytest.mark.parametrize(
    "requirements", ["scoring/requirements.txt", "aml/endpoints/environment/requirements.txt"]
)
def test_image_pins_match_uv_lock(requirements: str) -> None:
    locked = _lock_versions()
    pins = _pins(REPO / requirements)
    assert pins, requirements
    mismatched = {name: (v, locked.get(name)) for name, v in pins.items() if locked.get(name) != v}
    assert not mismatched, f"{requirements} differs from uv.lock: {mismatched}"


def test_facade_image_holds_only_scoring_dependencies() -> None:
    pins = _pins(REPO / "scoring" / "requirements.txt")
    assert {"fastapi", "uvicorn", "onnxruntime", "feast", "mlflow-skinny", "prometheus-client"} <= set(pins)
    assert not {"scikit-learn", "evidently", "azure-ai-ml", "mlflow", "skl2onnx", "plotly"} & set(pins)


def test_facade_image_is_non_root_exposes_8000_and_checks_health() -> None:
    text = (REPO / "scoring" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm$", text, flags=re.MULTILINE)
    assert re.search(r"^USER 10001:10001$", text, flags=re.MULTILINE)
    assert re.search(r"^EXPOSE 8000$", text, flags=re.MULTILINE)
    assert "HEALTHCHECK" in text and "/health/live" in text
    assert '"python", "-m", "scoring"' in text  # service.http_server: read deadlines


def _workflow_env(name: str) -> dict[str, str]:
    doc = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    return {str(k): str(v) for k, v in doc["env"].items()}


def test_the_candidates_mirrored_shadow_loads_as_the_service_takes_it() -> None:
    """deploy.yml mirrors SHADOW_MIRROR_PERCENT of live requests to the idle slot (``az ml
    online-endpoint update --mirror-traffic``): the endpoint entity azure-ai-ml builds from our file
    with that mirror (and blue serving) carries it in its REST body, within the service's rules (one
    deployment, at most 50 %); the slot's deployment takes the shadow clock as a tag."""
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    deploy, promote = _workflow_env("deploy.yml"), _workflow_env("promote.yml")
    assert deploy["SHADOW_HOURS"] == promote["SHADOW_HOURS"]
    share = int(deploy["SHADOW_MIRROR_PERCENT"])
    assert 0 < share <= 50  # OnlineEndpointSchema.mirror_traffic: one key, <= 50 %
    script = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())
    rollout = next(s["run"] for s in script["jobs"]["endpoint"]["steps"] if s.get("id") == "rollout")
    assert '--mirror-traffic "$idle=$SHADOW_MIRROR_PERCENT"' in rollout

    endpoint = load_online_endpoint(
        ENDPOINTS / "endpoint.yml",
        params_override=[{"traffic": {"blue": 100}}, {"mirror_traffic": {"green": share}}],
    )
    body = endpoint._to_rest_online_endpoint("westus2").as_dict()
    assert body["properties"]["mirrorTraffic"] == {"green": share}
    assert body["properties"]["traffic"] == {"blue": 100}
    green = load_online_deployment(
        ENDPOINTS / "green.yml",
        params_override=[
            {"model": f"azureml:{REGISTERED_MODEL_NAME}:2"},
            {"tags.shadow_since": "1764680000"},
        ],
    )
    assert green.tags["shadow_since"] == "1764680000" and green.tags["slot"] == "green"
