"""The AzureML training environment (aml/environments/train/Dockerfile) reproduced without Docker,
with each code snapshot AzureML may run the pipeline's steps from: what ``az ml job create`` uploads
(the components' ``code:`` minus .amlignore) and what ``aml.submit`` stages (the Function and the
CLI). Every component's command module starts there with everything it imports installed."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from aml.submit import stage_code_snapshot
from tests.assets.images.conftest import REPO, reproduce
from tools.imagecheck.build import Image
from tools.imagecheck.fileset import amlignore_filter, checkout_files, kept
from tools.imagecheck.imports import missing_packages, third_party_imports
from tools.imagecheck.run import run_probe

AML = REPO / "aml"
PROBE = Path(__file__).with_name("probes") / "train_steps_probe.py"


def _components() -> list[dict[str, object]]:
    return [yaml.safe_load(p.read_text()) for p in sorted((AML / "components").glob("*.yml"))]


@pytest.fixture(scope="module")
def train_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    spec = yaml.safe_load((AML / "environments" / "train.yml").read_text())
    for component in _components():
        assert component["environment"] == f"azureml:{spec['name']}:{spec['version']}", component["name"]
    context = AML / "environments" / spec["build"]["path"]
    dockerfile = context / spec["build"].get("dockerfile_path", "Dockerfile")
    return reproduce(tmp_path_factory, dockerfile, context, "train")


def _uploaded(target: Path) -> Path:
    (code,) = {(AML / "components" / str(c["code"])).resolve() for c in _components()}
    for name in kept(checkout_files(code), amlignore_filter(code)):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(code / name, target / name)
    return target


@pytest.mark.parametrize("snapshot", ["az-ml-upload", "aml-submit-staged"])
def test_every_step_starts_in_the_training_environment(
    train_image: Image, tmp_path: Path, snapshot: str
) -> None:
    code = _uploaded(tmp_path / "code") if snapshot == "az-ml-upload" else stage_code_snapshot(REPO)
    try:
        assert missing_packages(code) == {}
        modules = {}
        for component in _components():
            argv = shlex.split(str(component["command"]))
            assert argv[:2] == ["python", "-m"], component["command"]
            modules[argv[2]] = sorted(third_party_imports(code, argv[2]))
        result = run_probe(
            train_image,
            PROBE.read_text(encoding="utf-8"),
            env={"IMAGECHECK_STEPS": json.dumps(modules)},
            cwd=code,
        )
        for module, outcome in result.items():
            assert outcome["missing"] == [], (
                f"{module}: not installed in the training image: {outcome['missing']}"
            )
            assert outcome["help_exit"] == 0, f"{module} does not start:\n{outcome['stderr']}"
    finally:
        if snapshot == "aml-submit-staged":
            shutil.rmtree(code, ignore_errors=True)
