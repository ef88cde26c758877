"""Where the validators' own environment lives and how tests find its programs.

The environment (checkov, helm-python-sdk, kubernetes-validate, actionlint, shellcheck, hadolint,
yamllint) is created by ``make validators`` at ``tools/validators/.venv``; tests run its programs as
subprocesses, by path, never importing them into the project's environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

VALIDATORS_DIR: Final = Path(__file__).resolve().parent
REPO_ROOT: Final = VALIDATORS_DIR.parent.parent
VENV_BIN: Final = VALIDATORS_DIR / ".venv" / "bin"
BOOTSTRAP_HINT: Final = "create it with: make validators (or make test / make validate, which do it first)"


class ValidatorsMissing(Exception):
    """The validators' environment, or one program in it, is not installed."""


def validator(name: str) -> Path:
    """Path of a program of the validators' environment (``checkov``, ``python``, ...)."""
    path = VENV_BIN / name
    if not path.exists():
        raise ValidatorsMissing(f"{path} does not exist; {BOOTSTRAP_HINT}")
    return path
