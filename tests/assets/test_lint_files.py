"""Dockerfiles (hadolint), shell scripts (shellcheck) and every YAML file (yamllint with
.yamllint.yaml), with the validators' own binaries. checkov on the Dockerfiles is in test_checkov.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools.validators.locate import REPO_ROOT, ValidatorsMissing, validator
from tools.validators.runners import DOCKERFILES, all_dockerfiles


def _run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        binary = validator(program)
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=180, cwd=REPO_ROOT)


@pytest.mark.parametrize(
    "dockerfile",
    sorted(set(DOCKERFILES) | set(all_dockerfiles())),
    ids=lambda p: str(Path(p).relative_to(REPO_ROOT)),
)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    assert dockerfile.exists(), f"{dockerfile.relative_to(REPO_ROOT)} is not written yet"
    # Warnings and errors fail; "info" and "style" findings are shown by `make validate` only.
    done = _run("hadolint", "--no-color", "--failure-threshold", "warning", str(dockerfile))
    assert done.returncode == 0, done.stdout + done.stderr


def test_service_images_have_a_healthcheck() -> None:
    """The facade and the sidecar: the reviewed skip of CKV_DOCKER_2 covers the AzureML images only."""
    for name in ("scoring/Dockerfile", "drift/Dockerfile"):
        path = REPO_ROOT / name
        assert path.is_file(), f"{name} is not written yet"
        assert any(line.startswith("HEALTHCHECK ") for line in path.read_text().splitlines()), name


def test_dockerfiles_pin_their_base_and_run_as_non_root() -> None:
    for dockerfile in all_dockerfiles():
        text = dockerfile.read_text()
        bases = [line.split()[1] for line in text.splitlines() if line.upper().startswith("FROM ")]
        assert bases and all(":" in base and not base.endswith(":latest") for base in bases), dockerfile
        users = [line.split()[1] for line in text.splitlines() if line.upper().startswith("USER ")]
        assert users and users[-1] not in {"root", "0"}, f"{dockerfile} must end as a non-root USER"


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [*sorted(REPO_ROOT.glob("scripts/*.sh")), REPO_ROOT / ".ci" / "run"]
    done = _run("shellcheck", "--format=gcc", *map(str, scripts))
    assert done.returncode == 0, done.stdout + done.stderr


def test_yaml_passes_yamllint() -> None:
    done = _run("yamllint", "--strict", "-c", str(REPO_ROOT / ".yamllint.yaml"), "-f", "parsable", ".")
    assert done.returncode == 0, done.stdout + done.stderr
