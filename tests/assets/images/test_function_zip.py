"""The retrain Function as deployed: the zip that functions/package.py builds (the deploy workflow
runs the same script), unpacked with only its requirements installed, imported as the Functions host
imports it, answering an alert end to end up to the AzureML client (faked: Azure cannot exist here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from functions.package import PACKAGES, build_zip
from tools.imagecheck.build import Image, from_zip
from tools.imagecheck.imports import missing_packages
from tools.imagecheck.run import run_probe

PROBE = Path(__file__).with_name("probes") / "function_app_probe.py"


@pytest.fixture(scope="module")
def function_package(tmp_path_factory: pytest.TempPathFactory) -> Image:
    work = tmp_path_factory.mktemp("function")
    build_zip(work / "function.zip")
    return from_zip(work / "function.zip", work / "wwwroot", label="function")


def test_zip_holds_every_repository_package_its_modules_import(function_package: Image) -> None:
    assert missing_packages(function_package.tree) == {}
    assert {p.name for p in function_package.tree.iterdir() if p.is_dir()} == set(PACKAGES)


def test_function_app_answers_an_alert_with_its_own_pipeline_fake_azureml(function_package: Image) -> None:
    result = run_probe(function_package, PROBE.read_text(encoding="utf-8"), cwd=function_package.tree)
    assert result["functions"] == ["retrain", "retrain_check"]
    assert result["pipeline_in_package"], result["pipeline_path"]  # finding 12: parent.parent left wwwroot
    assert result["bad_json_status"] == 422  # invalid_input, as bad input is everywhere
    assert result["alert_status"] == 200, result["alert_body"]
    assert result["alert_body"]["action"] == "started"
    assert result["steps"] == ["evaluate", "prepare", "register", "train"]
    # the code AzureML would run: the snapshot the Function staged from its own package
    (staged,) = result["staged_code"]
    try:
        lacking = missing_packages(Path(staged))
        assert lacking == {}, f"the pipeline's code snapshot lacks packages its steps import: {lacking}"
        assert (Path(staged) / "aml" / "steps" / "train.py").is_file()
    finally:
        shutil.rmtree(staged, ignore_errors=True)
