"""Name contracts across Terraform, the chart, the AzureML YAML, the Dockerfiles, the workflows and
the code (tools/name_contracts.py collects, this module judges):

- every environment variable a deployment sets is read by the deployable that receives it (a field of
  its pydantic-settings classes, a named constant, or a library in a short allow-list whose reason is
  checked), and every required settings field is set by each deployment of that deployable;
- every compute and datastore the AzureML YAML names is created by Terraform;
- endpoint, deployment, model, environment and image names agree wherever they are spelt.
"""

from __future__ import annotations

import difflib
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.bundle import CHAMPION_TAG
from tools import name_contracts as nc
from tools.validators.locate import ValidatorsMissing
from tools.validators.runners import all_dockerfiles, render_chart

REPO = nc.REPO
WORKFLOWS = REPO / ".github" / "workflows"


@pytest.fixture(scope="module")
def chart_renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    try:
        report = render_chart(tmp_path_factory.mktemp("rendered"))
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))
    out = {}
    for name, result in report["renders"].items():
        assert "error" not in result, f"{name}: {result.get('error')}"
        out[name] = result["manifests"]
    return out


@pytest.fixture(scope="module")
def env_settings(chart_renders: dict[str, str]) -> tuple[list[nc.EnvSetting], list[nc.Unmapped]]:
    settings: list[nc.EnvSetting] = []
    unmapped: list[nc.Unmapped] = []
    for found, missed in (
        nc.terraform_env(),
        nc.aml_env(),
        nc.dockerfiles_env(all_dockerfiles()),
        *(nc.chart_env(manifests, scenario) for scenario, manifests in chart_renders.items()),
    ):
        settings += found
        unmapped += missed
    return settings, unmapped


def _workflow(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    return {("on" if key is True else key): value for key, value in doc.items()}


# --- environment variables ----------------------------------------------------------------------


def test_every_settings_class_belongs_to_a_deployable() -> None:
    mapped = {ref for d in nc.DEPLOYABLES.values() for ref in d.settings}
    missing = nc.discovered_settings_classes() - mapped
    assert not missing, f"settings classes no deployable builds (add them to DEPLOYABLES): {sorted(missing)}"


def test_every_source_of_environment_variables_names_its_deployable(
    env_settings: tuple[list[nc.EnvSetting], list[nc.Unmapped]],
) -> None:
    _, unmapped = env_settings
    assert not unmapped, "sources that set variables for no known deployable: " + "; ".join(
        f"{u.source} sets {u.names}" for u in unmapped
    )


def test_every_variable_a_deployment_sets_is_read_by_its_deployable(
    env_settings: tuple[list[nc.EnvSetting], list[nc.Unmapped]],
) -> None:
    settings, _ = env_settings
    readers = {name: nc.reads(d) for name, d in nc.DEPLOYABLES.items()}
    problems = set()
    for setting in settings:
        name = setting.name
        if name.upper() in readers[setting.deployable] or name in nc.LIBRARY_READS:
            continue
        near = difflib.get_close_matches(name.upper(), list(readers[setting.deployable]), n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]}?)" if near else ""
        problems.add(f"{setting.source} sets {name}, which nothing in {setting.deployable} reads{hint}")
    assert not problems, "\n".join(sorted(problems))


def test_the_library_allow_list_is_used_and_its_reasons_hold(
    env_settings: tuple[list[nc.EnvSetting], list[nc.Unmapped]],
) -> None:
    settings, _ = env_settings
    set_somewhere = {s.name for s in settings}
    unused = set(nc.LIBRARY_READS) - set_somewhere
    assert not unused, f"allow-listed but set nowhere (remove them): {sorted(unused)}"
    ours = {n for d in nc.DEPLOYABLES.values() for n in nc.reads(d)}
    shadowed = {n for n in nc.LIBRARY_READS if n.upper() in ours}
    assert not shadowed, f"read by our settings, so not a library's: {sorted(shadowed)}"
    for name, library in nc.LIBRARY_READS.items():
        assert nc.library_proof_holds(library), f"{name}: {library.reason}, but {library.proof} is not there"


def _deployments(settings: list[nc.EnvSetting]) -> dict[tuple[str, str], dict[str, str | None]]:
    """(deployable, deployment) -> variables, with the image's ENV added to every deployment."""
    images: dict[str, dict[str, str | None]] = defaultdict(dict)
    out: dict[tuple[str, str], dict[str, str | None]] = defaultdict(dict)
    for s in settings:
        if s.source in nc.DOCKERFILES:
            images[s.deployable][s.name.upper()] = s.value
        else:
            out[(s.deployable, s.source)][s.name.upper()] = s.value
    for (deployable, _), env in out.items():
        for name, value in images[deployable].items():
            env.setdefault(name, value)
    return out


def test_every_required_setting_is_set_by_each_deployment(
    env_settings: tuple[list[nc.EnvSetting], list[nc.Unmapped]],
) -> None:
    deployments = _deployments(env_settings[0])
    assert ("function", "infra: azurerm_linux_function_app.retrain") in deployments
    problems = []
    for (deployable, source), env in sorted(deployments.items()):
        for ref in nc.DEPLOYABLES[deployable].settings:
            missing = nc.required_env_names(nc._load(ref)) - set(env)
            if missing:
                problems.append(f"{source}: {ref} needs {sorted(missing)}")
    assert not problems, "\n".join(problems)


# Values for variables the chart fills from a Secret (never in the repository): shaped like the real
# thing, so that each settings class validates what the chart wires around them.
SECRET_STAND_INS = {
    "SCORING_REDIS_URL": "rediss://:stand-in-key@redis-predmaint.redis.cache.windows.net:6380/0",
    "SCORING_ENDPOINT_KEY": "stand-in-endpoint-key-0123456789",
    "SCORING_API_KEY": "stand-in-api-key-0123456789",
    "INGEST_REDIS_URL": "rediss://:stand-in-key@redis-predmaint.redis.cache.windows.net:6380/0",
    "DRIFT_API_KEY": "stand-in-drift-key-0123456789",
}


IMAGE_BUILT_FILES = frozenset({"SCORING_FEAST_REGISTRY", "INGEST_FEAST_REGISTRY"})
"""Variables that point at a file the image writes at build time (the applied Feast registry)."""


@pytest.mark.parametrize("container", ["facade", "drift", "ingest"])
def test_each_chart_scenario_starts_with_valid_settings(
    container: str,
    env_settings: tuple[list[nc.EnvSetting], list[nc.Unmapped]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Build the container's settings from exactly what the image and the rendered chart give it:
    a scenario whose settings would refuse to start (e.g. the endpoint backend without its key)
    fails here instead of in a crash-looping Pod."""
    deployments = {k: v for k, v in _deployments(env_settings[0]).items() if k[0] == container}
    assert deployments, f"no chart scenario renders the {container} container"
    for (_, source), env in sorted(deployments.items()):
        with monkeypatch.context() as patch:
            for name in list(os.environ):
                patch.delenv(name)
            for name, value in env.items():
                if value is None:
                    assert name in SECRET_STAND_INS, f"{source}: add a stand-in for secret {name}"
                    value = SECRET_STAND_INS[name]
                if name in IMAGE_BUILT_FILES:
                    # a file the image's build writes (tests/assets/images proves it does): here, a stand-in
                    value = str(tmp_path / Path(value).name)
                    Path(value).touch()
                patch.setenv(name, value)
            for ref in nc.DEPLOYABLES[container].settings:
                try:
                    nc._load(ref)()
                except ValueError as exc:
                    pytest.fail(f"{source}: {ref} refuses the rendered environment: {exc}")


# --- AzureML compute and datastores -------------------------------------------------------------


def test_every_compute_the_aml_yaml_names_is_created_by_terraform() -> None:
    created = nc.terraform_aml_names()["compute"]
    refs = nc.aml_compute_refs()
    assert any(f.endswith("pipelines/train.yml") for f, _ in refs), "the pipeline names no compute"
    missing = [f"{where}: {name}" for where, name in refs if name not in created]
    assert not missing, f"computes Terraform does not create ({sorted(created)}): {missing}"


def test_every_datastore_the_aml_yaml_names_is_created_by_terraform() -> None:
    """The training pipeline reads ``azureml://datastores/predmaint/``: Terraform must create it as an
    ``azurerm_machine_learning_datastore_*`` resource of that name."""
    created = nc.terraform_aml_names()["datastore"]
    refs = nc.aml_datastore_refs()
    assert refs, "the AzureML YAML names no datastore"
    missing = [f"{where}: {name}" for where, name in refs if name not in created]
    assert not missing, f"datastores Terraform does not create ({sorted(created)}): {missing}"


# --- Event Hubs and storage names of the data path -----------------------------------------------


def _terraform_data_path_names() -> dict[str, str]:
    """The names Terraform creates, each followed to the resource that uses it."""
    from infra.checks.tf_azure_rules import load

    config = load(REPO / "infra")

    def plain(value: Any) -> str:
        text = str(value)
        return text[1:-1] if text.startswith('"') and text.endswith('"') else text

    def named(kind: str, name: str) -> str:
        value = plain(config.resources[(kind, name)]["name"])
        local = re.fullmatch(r"\$\{local\.(\w+)\}", value)
        return plain(config.locals[local.group(1)]) if local else value

    filesystem = named("azurerm_storage_data_lake_gen2_filesystem", "offline_features")
    datastore = config.resources[("azurerm_machine_learning_datastore_datalake_gen2", "predmaint")]
    assert "azurerm_storage_data_lake_gen2_filesystem.offline_features.name" in str(
        datastore["storage_container_id"]
    ), "the predmaint datastore is not on the offline-features file system"
    return {
        "INGEST_EVENTHUB_NAME": named("azurerm_eventhub", "telemetry"),
        "INGEST_CONSUMER_GROUP": named("azurerm_eventhub_consumer_group", "ingest"),
        "INGEST_CHECKPOINT_CONTAINER": named("azurerm_storage_container", "ingest_checkpoints"),
        "INGEST_OFFLINE_CONTAINER": filesystem,
    }


def test_event_hubs_and_storage_names_agree_across_terraform_the_chart_and_the_workers() -> None:
    """The hub, the consumer group and the two containers have one name each: Terraform's. The
    workers' defaults and every chart scenario that spells one must agree (a worker whose offline
    container differs writes day files the AzureML datastore never sees)."""
    from ingest.settings import IngestSettings

    names = _terraform_data_path_names()
    fields = IngestSettings.model_fields
    defaults = {
        "INGEST_CONSUMER_GROUP": fields["consumer_group"].default,
        "INGEST_CHECKPOINT_CONTAINER": fields["checkpoint_container"].default,
        "INGEST_OFFLINE_CONTAINER": fields["offline_container"].default,
    }
    problems = [
        f"ingest/settings.py default {var}={value!r}, Terraform {names[var]!r}"
        for var, value in defaults.items()
        if value != names[var]
    ]
    chart = REPO / "charts" / "pred-maint"
    for path in [chart / "values.yaml", *sorted((chart / "ci").glob("*-values.yaml"))]:
        values = yaml.safe_load(path.read_text()) or {}
        env = {
            **(values.get("ingest", {}).get("env") or {}),
            **{
                k.replace("SCORING_", "INGEST_"): v
                for k, v in (values.get("facade", {}).get("env") or {}).items()
                if k == "SCORING_EVENTHUB_NAME"
            },
        }
        problems += [
            f"{path.relative_to(REPO)} sets {var}={env[var]!r}, Terraform {name!r}"
            for var, name in names.items()
            if var in env and env[var] != name
        ]
    assert not problems, "\n".join(problems)


# --- endpoint, deployments, model, environments, images -----------------------------------------


def _endpoint_docs() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    endpoint: dict[str, Any] = {}
    deployments = {}
    for path in sorted((REPO / "aml" / "endpoints").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        schema = str(doc.get("$schema", ""))
        if "OnlineEndpoint" in schema:
            assert not endpoint, "one online endpoint"
            endpoint = doc
        elif "OnlineDeployment" in schema:
            deployments[path.name] = doc
    return endpoint, deployments


def test_endpoint_and_deployment_names_agree_with_the_workflows() -> None:
    endpoint, deployments = _endpoint_docs()
    assert {d["endpoint_name"] for d in deployments.values()} == {endpoint["name"]}
    slots = {d["name"] for d in deployments.values()}
    assert {f"{d['name']}.yml" for d in deployments.values()} == set(deployments), "slot file = slot name"
    for workflow in ("deploy.yml", "promote.yml"):
        doc = _workflow(workflow)
        assert doc["env"]["ENDPOINT_NAME"] == endpoint["name"], workflow
        assert set(doc["env"]["SLOTS"].split()) == slots, workflow
    options = _workflow("promote.yml")["on"]["workflow_dispatch"]["inputs"]["deployment"]["options"]
    assert set(options) == slots


def test_model_and_environment_names_agree_with_the_code() -> None:
    from core.bundle import REGISTERED_MODEL_NAME
    from drift.settings import DriftSettings
    from scoring.settings import ScoringSettings

    for workflow in ("deploy.yml", "promote.yml"):
        assert _workflow(workflow)["env"]["MODEL_NAME"] == REGISTERED_MODEL_NAME, workflow
    assert ScoringSettings.model_fields["model_name"].default == REGISTERED_MODEL_NAME
    assert DriftSettings.model_fields["model_name"].default == REGISTERED_MODEL_NAME
    # The deploy workflow finds the champion by the version tag the register step sets.
    assert _workflow("deploy.yml")["env"]["CHAMPION_TAG"] == CHAMPION_TAG
    env_docs = {}
    for path in (REPO / "aml").rglob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        if str(doc.get("$schema", "")).endswith("/environment.schema.json"):
            env_docs[f"azureml:{doc['name']}:{doc['version']}"] = path
    for path in sorted((REPO / "aml").rglob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        ref = doc.get("environment") if isinstance(doc, dict) else None
        if isinstance(ref, str):
            assert ref in env_docs, f"{path.relative_to(REPO)}: environment {ref} is registered by no YAML"


def test_image_names_agree_between_the_workflow_and_the_chart() -> None:
    deploy = _workflow("deploy.yml")
    text = (WORKFLOWS / "deploy.yml").read_text()
    built = {
        item["dockerfile"]: item["name"] for item in deploy["jobs"]["images"]["strategy"]["matrix"]["include"]
    }
    tag = deploy["jobs"]["images"]["steps"][-1]["with"]["tags"]
    assert tag.endswith("/pred-maint/${{ matrix.name }}:${{ github.sha }}"), tag
    values = yaml.safe_load((REPO / "charts" / "pred-maint" / "values.yaml").read_text())
    for component in nc.CHART_CONTAINERS:
        dockerfile = next(
            d for d, target in nc.DOCKERFILES.items() if target == nc.CHART_CONTAINERS[component]
        )
        assert dockerfile in built, f"deploy.yml builds no image from {dockerfile}"
        path = f"pred-maint/{built[dockerfile]}"
        assert values[component]["image"]["repository"].endswith(f"/{path}"), component
        assert f'--set {component}.image.repository="$REGISTRY/{path}"' in text, component


def test_the_production_scenario_calls_the_endpoint_by_its_name() -> None:
    """An AzureML Kubernetes endpoint answers at ``<router>/api/v1/endpoint/<name>/score``."""
    endpoint, _ = _endpoint_docs()
    production = yaml.safe_load((REPO / "charts/pred-maint/ci/production-values.yaml").read_text())
    url = production["facade"]["env"].get("SCORING_ENDPOINT_URL", "")
    if production["facade"]["env"].get("SCORING_BACKEND") == "aml-endpoint":
        assert re.search(rf"/api/v1/endpoint/{re.escape(endpoint['name'])}/score$", url), url


def test_the_checks_see_what_they_judge(
    env_settings: tuple[list[nc.EnvSetting], list[nc.Unmapped]],
) -> None:
    """Guards against a collector that silently finds nothing (which would make every test pass)."""
    chart = {(s.deployable, s.name) for s in env_settings[0] if s.source.startswith("chart ")}
    assert {("facade", "SCORING_PORT"), ("drift", "DRIFT_PORT"), ("facade", "SCORING_REDIS_URL")} <= chart
    assert any(s.source.startswith("aml: ") for s in env_settings[0]), "no environment_variables in aml/"
    env, _ = nc.terraform_env()
    assert {s.name for s in env} >= {"AZUREML_WORKSPACE_NAME", "RETRAIN_TIMER_SCHEDULE"}
    assert {k for k, _ in nc.dockerfile_env(REPO / "scoring" / "Dockerfile")} >= {"SCORING_PORT", "HOME"}
    assert len(nc.terraform_aml_names()["compute"]) >= 2, "the training cluster and the attached AKS"
    assert nc.discovered_settings_classes() >= {
        "scoring.settings:ScoringSettings",
        "aml.submit:AzureMLSettings",
    }
