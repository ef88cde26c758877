"""Every YAML under aml/ (components, pipelines, environments, endpoints, schedules, ...) loads with
azure-ai-ml's own loader, chosen by its ``$schema`` line, which must come first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

AML_DIR = Path(__file__).resolve().parents[2] / "aml"
YAML_FILES = sorted(p for p in AML_DIR.rglob("*.y*ml") if p.suffix in (".yml", ".yaml"))


def loader_for(schema: str) -> Callable[..., Any]:
    """azure-ai-ml's loader for a ``$schema`` URL (by its file name)."""
    import azure.ai.ml as aml
    from azure.ai.ml.entities._load_functions import load_schedule

    name = schema.rsplit("/", 1)[-1].removesuffix(".schema.json")
    table: dict[str, Callable[..., Any]] = {
        "commandComponent": aml.load_component,
        "pipelineComponent": aml.load_component,
        "sparkComponent": aml.load_component,
        "parallelComponent": aml.load_component,
        "pipelineJob": aml.load_job,
        "commandJob": aml.load_job,
        "sweepJob": aml.load_job,
        "environment": aml.load_environment,
        "model": aml.load_model,
        "data": aml.load_data,
        "managedOnlineEndpoint": aml.load_online_endpoint,
        "kubernetesOnlineEndpoint": aml.load_online_endpoint,
        "managedOnlineDeployment": aml.load_online_deployment,
        "kubernetesOnlineDeployment": aml.load_online_deployment,
        "batchEndpoint": aml.load_batch_endpoint,
        "batchDeployment": aml.load_batch_deployment,
        "schedule": load_schedule,
        "computeInstance": aml.load_compute,
        "amlCompute": aml.load_compute,
    }
    if name not in table:
        raise AssertionError(f"no azure-ai-ml loader known for $schema {schema}: add it to this test")
    return table[name]


def test_there_are_aml_yaml_files() -> None:
    names = {p.relative_to(AML_DIR).as_posix() for p in YAML_FILES}
    assert "pipelines/train.yml" in names
    assert {"components/prepare.yml", "components/train.yml", "components/evaluate.yml"} <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(AML_DIR).as_posix())
def test_yaml_loads_with_azure_ai_ml(path: Path) -> None:
    first = path.read_text().lstrip().splitlines()[0]
    assert first.startswith("$schema: https://azuremlschemas.azureedge.net/"), (
        f"{path}: $schema must be line 1"
    )
    schema = yaml.safe_load(path.read_text())["$schema"]
    entity = loader_for(schema)(source=path)
    assert entity is not None


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(AML_DIR).as_posix())
def test_no_latest_references(path: Path) -> None:
    text = path.read_text()
    assert "@latest" not in text and ":latest" not in text, f"{path} refers to a moving version"
