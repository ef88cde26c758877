"""The AzureML online deployment as AzureML assembles it: the environment image
(aml/endpoints/environment/Dockerfile) reproduced without Docker, the code that ``az ml`` uploads
for ``code_configuration.code`` (the checkout minus .amlignore, judged by azure-ai-ml's own ignore
file code), the scoring script started by the inference server in process with a model bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.bundle import REGISTERED_MODEL_NAME, Bundle
from tests.assets.images.conftest import REPO, reproduce
from tools.imagecheck.build import Image
from tools.imagecheck.fileset import amlignore_filter, checkout_files, kept
from tools.imagecheck.imports import missing_packages
from tools.imagecheck.run import run_probe

ENDPOINTS = REPO / "aml" / "endpoints"
PROBE = Path(__file__).with_name("probes") / "score_probe.py"
APP_ROOT = "/var/azureml-app"


@pytest.fixture(scope="module")
def deployment() -> dict[str, object]:
    blue = yaml.safe_load((ENDPOINTS / "blue.yml").read_text())
    env_spec = yaml.safe_load((ENDPOINTS / "environment.yml").read_text())
    assert blue["environment"] == f"azureml:{env_spec['name']}:{env_spec['version']}"
    build = ENDPOINTS / env_spec["build"]["path"]
    return {
        "code": (ENDPOINTS / blue["code_configuration"]["code"]).resolve(),
        "script": blue["code_configuration"]["scoring_script"],
        "dockerfile": build / env_spec["build"].get("dockerfile_path", "Dockerfile"),
        "context": build,
    }


@pytest.fixture(scope="module")
def endpoint_image(tmp_path_factory: pytest.TempPathFactory, deployment: dict[str, object]) -> Image:
    image = reproduce(
        tmp_path_factory, Path(str(deployment["dockerfile"])), Path(str(deployment["context"])), "endpoint"
    )
    code = Path(str(deployment["code"]))
    for name in kept(checkout_files(code), amlignore_filter(code)):
        target = image.host(f"{APP_ROOT}/{name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(code / name, target)
    return image


def test_uploaded_code_holds_every_repository_package_it_imports(endpoint_image: Image) -> None:
    uploaded = endpoint_image.host(APP_ROOT)
    assert missing_packages(uploaded) == {}
    assert not (uploaded / "tests").exists() and not (uploaded / ".venv").exists()


def test_score_py_scores_the_sample_request_in_the_inference_server(
    endpoint_image: Image, deployment: dict[str, object], image_bundle: Bundle, tmp_path: Path
) -> None:
    # AzureML mounts the model one level down (the model's name, then its version)
    model_dir = endpoint_image.host(f"{APP_ROOT}-models/{REGISTERED_MODEL_NAME}/1")
    if not model_dir.exists():
        shutil.copytree(image_bundle.directory, model_dir / image_bundle.directory.name)
    env = {
        "AZUREML_ENTRY_SCRIPT": str(endpoint_image.host(f"{APP_ROOT}/{deployment['script']}")),
        "AZUREML_MODEL_DIR": str(model_dir),
        "AML_APP_ROOT": str(endpoint_image.host(APP_ROOT)),
        "PREDMAINT_MODEL_VERSION": "1",
        "IMAGECHECK_SAMPLE_REQUEST": str(ENDPOINTS / "sample-request.json"),
    }
    empty = tmp_path / "cwd"
    empty.mkdir()
    result = run_probe(endpoint_image, PROBE.read_text(encoding="utf-8"), env=env, cwd=empty)
    assert result["health_status"] == 200
    assert result["score_status"] == 200, result["score_body"]
    body = result["score_body"]
    assert body["model_version"] == "1" and len(body["predictions"]) >= 1
    assert result["bad_status"] == 422
