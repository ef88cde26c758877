"""Isolated virtualenvs built from an image's requirements with uv, cached by their content.

The key is the requirements text, the Python version and uv's version: an edited requirements file
gets a fresh environment, a rerun reuses the one it built (uv's cache makes a cold install mostly
hard links). The cache lives in ``$PREDMAINT_IMAGECHECK_CACHE`` or ``~/.cache/predmaint-imagecheck``;
an environment counts only once its ``.complete`` marker is written, under a lock, so parallel runs
neither race nor use a half-installed one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

CACHE_ENV: Final = "PREDMAINT_IMAGECHECK_CACHE"
_REPO: Final = Path(__file__).resolve().parents[2]
_MARKER: Final = ".complete"


class RequirementsDoNotResolve(Exception):
    """uv could not install the requirements (unsatisfiable pins, a missing wheel)."""


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "predmaint-imagecheck"


def uv_binary() -> Path:
    pinned = _REPO / ".tools" / "bin" / "uv"
    if pinned.exists():
        return pinned
    found = shutil.which("uv")
    if found is None:
        raise FileNotFoundError("uv not found: run make setup (it installs the pinned uv in .tools/bin)")
    return Path(found)


def base_python() -> Path:
    """This interpreter's base installation (never the project's .venv)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Path(sys.base_prefix) / "bin" / version


def _uv_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT", "PYTHON"))}


def ensure_venv(requirements: str, label: str) -> Path:
    """The virtualenv (its directory) holding exactly ``requirements``; built on first use."""
    uv = uv_binary()
    uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    digest = hashlib.sha256(f"{sys.version}\n{uv_version}\n{requirements}".encode()).hexdigest()[:16]
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', label)}-{digest}"
    with open(root / f".{target.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / _MARKER).is_file():
            print(f"[imagecheck] {label}: cached environment {target}", flush=True)
            return target
        shutil.rmtree(target, ignore_errors=True)
        print(f"[imagecheck] {label}: installing requirements into {target}", flush=True)
        env = _uv_env()
        subprocess.run(
            [uv, "venv", "--quiet", "--python", str(base_python()), str(target)],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        (target / "requirements.txt").write_text(requirements, encoding="utf-8")
        done = subprocess.run(
            [uv, "pip", "install", "-q", "--python", target / "bin" / "python", "-r", "requirements.txt"],
            capture_output=True,
            text=True,
            env=env,
            cwd=target,
            timeout=900,
        )
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise RequirementsDoNotResolve(f"{label}: uv pip install failed:\n{done.stderr[-3000:]}")
        (target / _MARKER).write_text(uv_version, encoding="utf-8")
    return target
