"""The deploy and promote workflows' AzureML steps, run as written (their `run:` scripts, in bash, in
order) against a fake `az` (tests/assets/fake_az.py: Azure cannot be reached here) through a first
deploy, reruns, a new champion, a promotion and a rerun after it. What a user would notice: blue
serves model version 1 after the first deploy, a rerun changes nothing, a newer champion goes to the
idle slot without traffic but shadowing mirrored traffic, promotion waits for the shadow period, and a
rerun after a promotion leaves the traffic where promotion put it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.bundle import CHAMPION_TAG
from tests.assets.fake_az import registered_tags

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
FAKE_AZ = Path(__file__).with_name("fake_az.py")
AML_ENV = {"AML_RG": "rg", "AML_WS": "ws"}


def _step(workflow: str, job: str, name_starts: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    doc = yaml.safe_load((WORKFLOWS / workflow).read_text())
    steps = [s for s in doc["jobs"][job]["steps"] if str(s.get("name", "")).startswith(name_starts)]
    assert len(steps) == 1, f"{workflow}:{job}: one step named {name_starts!r}, found {len(steps)}"
    return doc, doc["jobs"][job], steps[0]


class Workspace:
    """The fake workspace's state file and a runner for workflow steps against it."""

    def __init__(self, tmp: Path, cache: Path):
        self.tmp = tmp
        self.cache = cache
        self.state_file = tmp / "state.json"
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "az").write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AZ}" "{self.state_file}" "$@"\n'
        )
        (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")  # the training wait polls without waiting
        for tool in ("az", "sleep"):
            (bin_dir / tool).chmod(0o755)
        self.path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"

    @property
    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def edit(self, **changes: Any) -> None:
        state = self.state
        state.update(changes)
        self.state_file.write_text(json.dumps(state))

    def register(self, version: str, promoted: bool) -> None:
        """A version registered outside the deploy (the schedule or the drift trigger's run)."""
        state = self.state
        tags = registered_tags(state.get("models", []), promoted)
        state.setdefault("models", []).append(
            {"name": "pred-maint-isoforest", "version": version, "tags": tags}
        )
        self.state_file.write_text(json.dumps(state))

    def run(
        self, workflow: str, job: str, step: str, given: dict[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        """Run one step's script as GitHub does (``bash -e -o pipefail``) with the workflow's and the
        job's environment; ``given`` supplies every value that is a ``${{ }}`` expression there."""
        doc, job_doc, step_doc = _step(workflow, job, step)
        given = given or {}
        env = {"PATH": self.path, "HOME": str(self.tmp), "RUNNER_TEMP": str(self.tmp)}
        env["FAKE_AZ_CACHE"] = str(self.cache)
        for scope in (doc.get("env", {}), job_doc.get("env", {}), step_doc.get("env", {})):
            for key, value in scope.items():
                if key in given:
                    env[key] = given[key]
                elif str(value).startswith("${{ vars."):  # repository variables: Azure login, Terraform
                    env[key] = f"stand-in-{key.lower()}"
                elif "${{" in str(value):
                    pytest.fail(f"{workflow}:{job}: give a value for {key} ({value})")
                else:
                    env[key] = str(value)
        output = self.tmp / "github_output"
        output.write_text("")
        env["GITHUB_OUTPUT"] = str(output)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step_doc["run"]],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        return done, outputs

    def deploy(self, retrain: bool = False) -> dict[str, str]:
        """The deploy workflow's AzureML part: train-if-needed, champion, endpoint, rollout."""
        aml_env = {"AML_RG": "rg", "AML_WS": "ws"}
        done, _ = self.run("deploy.yml", "aml", "train when", {**aml_env, "RETRAIN": str(retrain).lower()})
        assert done.returncode == 0, done.stdout + done.stderr
        done, champion = self.run("deploy.yml", "aml", "the champion version", aml_env)
        assert done.returncode == 0, done.stdout + done.stderr
        endpoint_env = {"AML_RG": "rg", "AML_WS": "ws", "CHAMPION": champion["version"]}
        done, _ = self.run("deploy.yml", "endpoint", "endpoint", endpoint_env)
        assert done.returncode == 0, done.stdout + done.stderr
        done, rollout = self.run("deploy.yml", "endpoint", "champion to a deployment", endpoint_env)
        assert done.returncode == 0, done.stdout + done.stderr
        return {"champion": champion["version"], "candidate": rollout.get("candidate", "")}

    def promote(self, deployment: str, share: str) -> subprocess.CompletedProcess[str]:
        given = {**AML_ENV, "TARGET": deployment, "SHARE": share}
        return self.run("promote.yml", "promote", "move traffic", given)[0]

    def age_shadow(self, deployment: str, hours: float) -> None:
        """As if ``deployment`` had shadowed live traffic for ``hours`` already."""
        state = self.state
        tags = state["endpoints"]["pred-maint-scoring"]["deployments"][deployment]["tags"]
        tags["shadow_since"] = str(int(time.time() - hours * 3600))
        self.state_file.write_text(json.dumps(state))

    @property
    def mirrored(self) -> dict[str, int]:
        return dict(self.state["endpoints"]["pred-maint-scoring"].get("mirror_traffic", {}))

    def served(self) -> dict[str, tuple[str, int]]:
        """Deployment -> (model version, traffic share)."""
        endpoint = self.state["endpoints"]["pred-maint-scoring"]
        return {
            name: (d["model"].rsplit("/", 1)[-1], endpoint["traffic"].get(name, 0))
            for name, d in endpoint["deployments"].items()
        }


@pytest.fixture(scope="module")
def loader_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fake-az-cache")


@pytest.fixture
def workspace(tmp_path: Path, loader_cache: Path) -> Workspace:
    if shutil.which("jq") is None:
        pytest.fail("the workflows use jq (preinstalled on GitHub runners): apt-get install jq")
    return Workspace(tmp_path, loader_cache)


def test_first_deploy_waits_for_model_v1_then_blue_serves_it_fake_azure(workspace: Workspace) -> None:
    result = workspace.deploy()
    assert result == {"champion": "1", "candidate": "blue"}
    assert workspace.served() == {"blue": ("1", 100)}
    blue = workspace.state["endpoints"]["pred-maint-scoring"]["deployments"]["blue"]
    assert blue["environment_variables"]["PREDMAINT_MODEL_VERSION"] == "1"  # reported as model_version
    assert [j["status"] for j in workspace.state["jobs"].values()] == ["Completed"]


def test_a_first_model_that_fails_the_gate_stops_the_deploy_with_the_reason_fake_azure(
    workspace: Workspace,
) -> None:
    workspace.edit(gate_promotes=False)
    done, _ = workspace.run("deploy.yml", "aml", "train when", {**AML_ENV, "RETRAIN": "false"})
    assert done.returncode == 0, done.stderr
    done, _ = workspace.run("deploy.yml", "aml", "the champion version", AML_ENV)
    assert done.returncode != 0 and "was promoted by the gate" in done.stdout


def test_a_failed_training_job_fails_the_deploy_fake_azure(workspace: Workspace) -> None:
    workspace.edit(job_outcome="Failed")
    done, _ = workspace.run("deploy.yml", "aml", "train when", {**AML_ENV, "RETRAIN": "false"})
    assert done.returncode != 0 and "ended Failed" in done.stdout


def test_reruns_new_champions_and_promotion_keep_traffic_where_promotion_put_it_fake_azure(
    workspace: Workspace,
) -> None:
    workspace.deploy()
    jobs_after_first = len(workspace.state["jobs"])

    # A rerun with nothing new: no training, no change.
    assert workspace.deploy() == {"champion": "1", "candidate": ""}
    assert len(workspace.state["jobs"]) == jobs_after_first
    assert workspace.served() == {"blue": ("1", 100)}

    # The schedule registered v2 (promoted) and v3 (failed the gate): green gets v2, no traffic,
    # and shadows a share of the live requests.
    workspace.register("2", promoted=True)
    workspace.register("3", promoted=False)
    assert workspace.deploy() == {"champion": "2", "candidate": "green"}
    assert workspace.served() == {"blue": ("1", 100), "green": ("2", 0)}
    assert workspace.mirrored == {"green": 20}

    # Explicit promotion after the shadow period, in two steps; the mirror is switched off first.
    workspace.age_shadow("green", hours=13)
    assert workspace.promote("green", "10").returncode == 0
    assert workspace.served() == {"blue": ("1", 90), "green": ("2", 10)}
    assert workspace.mirrored == {}
    assert workspace.promote("green", "100").returncode == 0
    assert workspace.served() == {"blue": ("1", 0), "green": ("2", 100)}

    # A rerun after the promotion must not send the traffic back to blue.
    assert workspace.deploy() == {"champion": "2", "candidate": ""}
    assert workspace.served() == {"blue": ("1", 0), "green": ("2", 100)}

    # The next champion goes to the now idle blue, shadowing; green keeps serving.
    workspace.register("4", promoted=True)
    assert workspace.deploy() == {"champion": "4", "candidate": "blue"}
    assert workspace.served() == {"blue": ("4", 0), "green": ("2", 100)}
    assert workspace.mirrored == {"blue": 20}


def test_a_candidate_takes_no_share_before_its_shadow_period_ends_fake_azure(workspace: Workspace) -> None:
    workspace.deploy()
    workspace.register("2", promoted=True)
    assert workspace.deploy() == {"champion": "2", "candidate": "green"}
    done = workspace.promote("green", "10")
    assert done.returncode != 0 and "12 h shadow period" in done.stdout, done.stdout
    assert workspace.served() == {"blue": ("1", 100), "green": ("2", 0)}
    assert workspace.mirrored == {"green": 20}
    # a rerun of the deploy keeps the shadow clock: 11 h in, it is still an hour short
    workspace.age_shadow("green", hours=11)
    assert workspace.deploy() == {"champion": "2", "candidate": "green"}
    assert workspace.promote("green", "10").returncode != 0
    workspace.age_shadow("green", hours=12.1)
    assert workspace.promote("green", "10").returncode == 0
    assert workspace.served() == {"blue": ("1", 90), "green": ("2", 10)}


def test_a_rerun_on_a_promoted_endpoint_leaves_its_traffic_alone_fake_azure(workspace: Workspace) -> None:
    """Finding 16: green was promoted to 100 % (by promote.yml); the next deploy must not undo it."""
    model_id = "azureml:/subscriptions/0/models/pred-maint-isoforest/versions/{}"
    workspace.edit(
        models=[
            {
                "name": "pred-maint-isoforest",
                "version": v,
                "tags": {"predmaint.promoted": "true", CHAMPION_TAG: v},
            }
            for v in ("1", "2")
        ],
        endpoints={
            "pred-maint-scoring": {
                "traffic": {"blue": 0, "green": 100},
                "deployments": {
                    slot: {"name": slot, "model": model_id.format(v), "environment_variables": {}}
                    for slot, v in (("blue", "1"), ("green", "2"))
                },
            }
        },
    )
    result = workspace.deploy()
    assert workspace.served() == {"blue": ("1", 0), "green": ("2", 100)}
    assert result == {"champion": "2", "candidate": ""}


def test_retrain_input_runs_the_pipeline_even_with_a_champion_fake_azure(workspace: Workspace) -> None:
    workspace.deploy()
    assert workspace.deploy(retrain=True) == {"champion": "2", "candidate": "green"}
    assert len(workspace.state["jobs"]) == 2


def test_promotion_refuses_a_partial_share_without_a_second_deployment_fake_azure(
    workspace: Workspace,
) -> None:
    workspace.deploy()
    done = workspace.promote("blue", "10")
    assert done.returncode != 0 and "only deployment" in done.stdout
    assert workspace.served() == {"blue": ("1", 100)}


def test_a_rollback_to_an_older_version_is_the_champion_the_deploy_serves_fake_azure(
    workspace: Workspace,
) -> None:
    """A rollback (core.registry.set_champion) gives an older version the highest promotion number:
    the deploy takes that version, not the newest promoted one."""
    workspace.edit(
        models=[
            {
                "name": "pred-maint-isoforest",
                "version": v,
                "tags": {"predmaint.promoted": "true", CHAMPION_TAG: n},
            }
            for v, n in (("1", "3"), ("2", "2"))
        ]
    )
    assert workspace.deploy() == {"champion": "1", "candidate": "blue"}
