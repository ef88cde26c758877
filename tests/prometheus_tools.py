"""Real Prometheus tools for the tests: ``promtool``, ``prometheus``, ``alertmanager`` (Debian's
``prometheus`` and ``prometheus-alertmanager`` packages). Skips with an install hint on a laptop
without them; fails under CI (``CI`` set), where ``.ci/run`` installs them."""

from __future__ import annotations

import os
import shutil

import pytest

INSTALL_HINT = "install with: apt-get install -y prometheus prometheus-alertmanager (Debian/Ubuntu)"

ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")
"""Debian installs the binary as prometheus-alertmanager; upstream tarballs call it alertmanager."""


def require_binary(*names: str) -> str:
    """The path of the first of ``names`` on PATH; skip (locally) or fail (CI) without one."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    message = f"{' or '.join(names)} not found on PATH; {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
