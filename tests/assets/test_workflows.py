""".github/workflows: actionlint clean (with shellcheck on every run: block) and hardened: actions
pinned by full commit SHA with a version comment, minimal permissions (id-token only where a job
logs in to Azure), timeouts, concurrency; deploy.yml does what the deployment needs, in order."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.validators.locate import REPO_ROOT, VENV_BIN, ValidatorsMissing, validator

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$")


def _load(path: Path) -> dict[str, Any]:
    # PyYAML reads the `on:` key as True.
    return {("on" if key is True else key): value for key, value in yaml.safe_load(path.read_text()).items()}


def test_ci_and_deploy_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "deploy.yml"}


def test_actionlint_is_clean() -> None:
    try:
        actionlint = validator("actionlint")
        validator("shellcheck")
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(actionlint), "-color=false", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_action_is_pinned_by_commit_sha_with_a_version_comment() -> None:
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = USES.match(line)
            if not match or match.group(1).startswith("./"):
                continue
            ref, rest = match.group(1), match.group(2)
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), (
                f"{path.name}:{number} {ref} not pinned"
            )
            assert re.search(r"#\s*v\d+(\.\d+)*", rest), f"{path.name}:{number} needs a '# vX.Y.Z' comment"


def test_permissions_timeouts_and_concurrency() -> None:
    for path in WORKFLOWS:
        workflow = _load(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        assert "group" in workflow["concurrency"], path.name
        for name, job in workflow["jobs"].items():
            where = f"{path.name}:{name}"
            assert isinstance(job.get("timeout-minutes"), int), f"{where} has no timeout-minutes"
            logs_in = any(
                str(step.get("uses", "")).startswith("azure/login@") for step in job.get("steps", [])
            )
            permissions = job.get("permissions", {})
            if logs_in:
                assert permissions == {"contents": "read", "id-token": "write"}, where
            else:
                assert "id-token" not in permissions, f"{where} does not log in, so no id-token"


def test_deploy_runs_the_whole_rollout_in_order() -> None:
    deploy = _load(REPO_ROOT / ".github/workflows/deploy.yml")
    jobs = deploy["jobs"]
    text = (REPO_ROOT / ".github/workflows/deploy.yml").read_text()
    # Terraform: init, validate, plan kept as an artefact, apply of that plan on main behind approval.
    for command in (
        "terraform init",
        "terraform validate",
        "terraform plan",
        "terraform apply -no-color tfplan",
    ):
        assert command in text, command
    assert any("upload-artifact" in str(step.get("uses")) for step in jobs["plan"]["steps"])
    assert jobs["apply"]["environment"] == "production"
    assert "refs/heads/main" in jobs["apply"]["if"]
    assert jobs["apply"]["needs"] == "plan"
    # AzureML: the first deploy waits for the champion; the endpoint job deploys that version.
    for command in ("az ml component create", "az ml environment create", "az ml job create"):
        assert command in text, command
    aml = "\n".join(step.get("run", "") for step in jobs["aml"]["steps"])
    assert aml.index("az ml job create") < aml.index("az ml job show") < aml.index("Completed")
    assert jobs["aml"]["outputs"]["champion"] == "${{ steps.champion.outputs.version }}"
    assert "aml" in jobs["endpoint"]["needs"]
    assert jobs["endpoint"]["env"]["CHAMPION"] == "${{ needs.aml.outputs.champion }}"
    endpoint = "\n".join(step.get("run", "") for step in jobs["endpoint"]["steps"])
    assert '--set model="azureml:$MODEL_NAME:$CHAMPION"' in endpoint
    assert '--set environment_variables.PREDMAINT_MODEL_VERSION="$CHAMPION"' in endpoint
    # Never a hard-coded model version, in a workflow or a deployment file.
    for path in [*WORKFLOWS, *sorted((REPO_ROOT / "aml" / "endpoints").glob("*.yml"))]:
        assert not re.search(r"azureml:pred-maint-isoforest:\d", path.read_text()), path.name
    # The endpoint is never updated from its file (which would re-apply traffic), and the only traffic
    # change here is giving the first deployment of an endpoint that serves nothing its 100 %.
    assert "online-endpoint update --file" not in text
    assert re.findall(r"--traffic \S+", endpoint) == ['--traffic "$slot=100"']
    # The smoke test is its own job on the VNet runner, after the endpoint job.
    smoke = jobs["smoke"]
    assert smoke["runs-on"] == ["self-hosted", "linux", "pred-maint-vnet"]
    assert "endpoint" in smoke["needs"]
    assert any(str(step.get("uses", "")) == "./.github/actions/smoke-endpoint" for step in smoke["steps"])
    assert "helm upgrade --install" in text and "--atomic" in text
    assert "az functionapp deployment source config-zip" in text
    assert "client-id: ${{ vars.AZURE_CLIENT_ID }}" in text, "OIDC login, no stored secret"
    assert "secrets." not in text


def test_traffic_moves_only_by_the_approved_promote_workflow() -> None:
    promote = _load(REPO_ROOT / ".github/workflows/promote.yml")
    assert set(promote["on"]) == {"workflow_dispatch"}, "promotion is a person's decision"
    job = promote["jobs"]["promote"]
    assert job["environment"] == "production"
    assert job["runs-on"] == ["self-hosted", "linux", "pred-maint-vnet"]
    uses = [str(step.get("uses", "")) for step in job["steps"]]
    runs = [step.get("run", "") for step in job["steps"]]
    move = next(i for i, run in enumerate(runs) if "--traffic" in run)
    assert uses.index("./.github/actions/smoke-endpoint") < move, "smoke test before traffic moves"
    deploy = _load(REPO_ROOT / ".github/workflows/deploy.yml")
    assert promote["concurrency"]["group"] == deploy["concurrency"]["group"], "never both at once"
    labels = yaml.safe_load((REPO_ROOT / ".github" / "actionlint.yaml").read_text())
    assert "pred-maint-vnet" in labels["self-hosted-runner"]["labels"]
    for path in WORKFLOWS:
        if path.name != "promote.yml":
            assert '--traffic "$split"' not in path.read_text(), path.name
