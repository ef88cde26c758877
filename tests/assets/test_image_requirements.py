"""Every image installs exactly what uv.lock holds, and the training environment's requirements
resolve for the image's platform with azureml-mlflow among them (finding 7: mlflow 3.17.2 beside
azureml-mlflow, which caps mlflow-skinny at 3.15.0, never resolved).

The resolution runs ``uv pip compile`` against PyPI for Python 3.11 on x86_64 manylinux (the
``python:3.11-slim`` base); its outcome is cached under ``.cache/`` by the hash of the file and of
the uv version, so an unchanged file costs nothing on the next run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.assets

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "requirements-resolve"
# image requirements compiled from a .in file by scripts/compile-image-requirements.sh
COMPILED = ["scoring", "drift", "ingest", "functions", "aml/environments/train"]
# every requirements file an image or an AzureML environment installs
ALL_IMAGE_FILES = [f"{d}/requirements.txt" for d in COMPILED] + ["aml/endpoints/environment/requirements.txt"]
TRAIN = ROOT / "aml" / "environments" / "train" / "requirements.txt"
PLATFORM = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name)).strip().lower()


def _requirements(path: Path) -> dict[str, str | None]:
    """Name -> pinned version (None when the line pins nothing)."""
    found: dict[str, str | None] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        found[_norm(name)] = version.strip() if sep else None
    return found


def _locked() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {_norm(p["name"]): p["version"] for p in lock["package"] if "version" in p}


def _uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.is_file() else shutil.which("uv")
    assert found, "uv not found: run `make setup`"
    return found


def resolve(requirements: Path) -> tuple[bool, str]:
    """``uv pip compile`` the file for the images' platform: (resolved, uv's output). Cached by hash."""
    uv = _uv()
    uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256(requirements.read_bytes() + uv_version.encode() + " ".join(PLATFORM).encode())
    cached = CACHE / f"{key.hexdigest()}.json"
    if cached.is_file():
        entry = json.loads(cached.read_text())
        return bool(entry["ok"]), str(entry["output"])
    proc = subprocess.run(
        [uv, "pip", "compile", str(requirements), *PLATFORM, "--no-header", "--no-annotate", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    network = re.search(r"(?i)failed to fetch|dns error|connection (refused|reset)|timed out", output)
    if proc.returncode != 0 and network:
        pytest.fail(f"PyPI unreachable, cannot check {requirements.name}: {output[-1000:]}")
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps({"ok": proc.returncode == 0, "output": output}))
    return proc.returncode == 0, output


@pytest.mark.parametrize("path", ALL_IMAGE_FILES)
def test_image_requirements_pin_exactly_what_uv_lock_holds(path: str) -> None:
    locked = _locked()
    pins = _requirements(ROOT / path)
    assert pins, path
    unpinned = sorted(name for name, version in pins.items() if version is None)
    assert not unpinned, f"{path}: not pinned: {unpinned}"
    differ = {name: (v, locked.get(name)) for name, v in pins.items() if locked.get(name) != v}
    assert not differ, f"{path} differs from uv.lock (rerun scripts/compile-image-requirements.sh): {differ}"


@pytest.mark.parametrize("directory", COMPILED)
def test_compiled_requirements_hold_every_input(directory: str) -> None:
    """Each name in ``requirements.in`` is pinned in the compiled file (a stale compile misses some)."""
    wanted = _requirements(ROOT / directory / "requirements.in")
    pinned = _requirements(ROOT / directory / "requirements.txt")
    assert not set(wanted) - set(pinned), f"{directory}: compile again, missing {set(wanted) - set(pinned)}"


@pytest.mark.parametrize("directory", ["scoring", "drift", "aml/environments/train"])
def test_images_that_read_the_workspace_registry_carry_azureml_mlflow(directory: str) -> None:
    """Without the plugin an ``azureml://`` tracking URI is an unsupported scheme (finding 9)."""
    assert "azureml-mlflow" in _requirements(ROOT / directory / "requirements.in")
    assert _requirements(ROOT / directory / "requirements.txt")["azureml-mlflow"]


def test_training_environment_resolves_for_the_image_platform() -> None:
    ok, output = resolve(TRAIN)
    assert ok, f"{TRAIN.relative_to(ROOT)} does not resolve:\n{output[-3000:]}"
    resolved = {_norm(n): v for n, _, v in (line.partition("==") for line in output.splitlines()) if v}
    pins = _requirements(TRAIN)
    assert resolved["azureml-mlflow"] == pins["azureml-mlflow"]
    assert resolved["mlflow"] == pins["mlflow"]


def test_the_resolve_check_fails_on_mlflow_beside_an_azureml_mlflow_it_excludes(tmp_path: Path) -> None:
    """The check itself: finding 7's pins (mlflow 3.17.2 with azureml-mlflow) must not resolve."""
    bad = tmp_path / "requirements.txt"
    bad.write_text("azureml-mlflow==1.62.0.post6\nmlflow==3.17.2\n")
    ok, output = resolve(bad)
    assert not ok and "mlflow" in output
