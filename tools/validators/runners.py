"""Run the validators' programs (tools/validators/.venv) from the project's tests, as subprocesses.

Each function returns parsed results and leaves the judging to the caller (the tests).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Final

from tools.validators.locate import REPO_ROOT, validator

CHART: Final = REPO_ROOT / "charts" / "pred-maint"
# The Kubernetes version the chart is linted and validated against (helm lint, kubernetes-validate -k):
# the minor of infra/variables.tf's kubernetes_version default, which tests/assets/test_helm_chart.py
# asserts. kubernetes-validate 1.37.0 bundles schemas up to 1.37.
KUBERNETES_VERSION: Final = "1.36.0"
CHECKOV_CONFIG: Final = REPO_ROOT / ".checkov.yaml"
# Images the deployment needs: the facade, the drift sidecar (both pushed by the deploy workflow)
# and the AzureML training environment (built by AzureML from its build context).
DOCKERFILES: Final = (
    REPO_ROOT / "scoring" / "Dockerfile",
    REPO_ROOT / "drift" / "Dockerfile",
    REPO_ROOT / "aml" / "environments" / "train" / "Dockerfile",
)
_NOT_SOURCE: Final = {".venv", ".tools", "node_modules", ".git", ".predmaint"}


def all_dockerfiles() -> list[Path]:
    """Every Dockerfile in the repository (the required ones and any other image, e.g. the AzureML
    endpoint environment), outside environments and caches."""
    found = {
        path
        for path in REPO_ROOT.rglob("Dockerfile")
        if not _NOT_SOURCE & set(path.relative_to(REPO_ROOT).parts)
    }
    return sorted(found | {path for path in DOCKERFILES if path.exists()})


def render_chart(
    out_dir: Path,
    *,
    chart: Path = CHART,
    scenarios: dict[str, Path] | None = None,
    namespace: str = "pred-maint",
    kube_version: str = f"v{KUBERNETES_VERSION}",
) -> dict[str, Any]:
    """Render the chart with its defaults (scenario ``values.yaml``) and each ``ci/*-values.yaml``
    (scenario ``<name>`` for ``<name>-values.yaml``), lint it strictly, and write every rendered
    scenario to ``out_dir/<scenario>.yaml``. Returns the report of tools/validators/render_chart.py."""
    if scenarios is None:
        scenarios = {p.name.removesuffix("-values.yaml"): p for p in sorted(chart.glob("ci/*-values.yaml"))}
    args = [str(validator("python")), str(REPO_ROOT / "tools" / "validators" / "render_chart.py"), str(chart)]
    args += ["--namespace", namespace, "--release", "pred-maint", "--kube-version", kube_version]
    for name, path in scenarios.items():
        args += ["--scenario", f"{name}={path}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    report: dict[str, Any] = json.loads(done.stdout)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, result in report["renders"].items():
        if "manifests" in result:
            (out_dir / f"{name}.yaml").write_text(result["manifests"], encoding="utf-8")
    return report


def run_checkov(directories: list[Path], frameworks: list[str]) -> list[dict[str, Any]]:
    """One checkov process over every directory (its start-up dominates), with the reviewed skip
    list. Returns one report per framework (``check_type``, ``results.failed_checks``, ...).
    (checkov ignores ``-f`` files when ``-d`` is also given: pass a Dockerfile's folder instead.)"""
    args = [str(validator("checkov")), "--config-file", str(CHECKOV_CONFIG), "--skip-download", "--quiet"]
    args += ["-o", "json"]
    args += ["--framework", *frameworks]
    for directory in directories:
        args += ["-d", str(directory)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    if done.returncode not in (0, 1):  # 1 means failed checks, judged by the caller
        raise RuntimeError(f"checkov exited {done.returncode}: {done.stderr[-2000:]}")
    # With several -d/-f, checkov prints one JSON document (an object or a list) per target.
    decoder, text, position, reports = json.JSONDecoder(), done.stdout, 0, []
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        parsed, position = decoder.raw_decode(text, position)
        reports.extend(parsed if isinstance(parsed, list) else [parsed])
    merged: dict[str, dict[str, Any]] = {}
    for report in reports:
        if not isinstance(report, dict) or "check_type" not in report:
            continue
        kind = report["check_type"]
        if kind not in merged:
            merged[kind] = report
            continue
        target = merged[kind]
        for key in ("failed_checks", "parsing_errors"):
            target["results"].setdefault(key, []).extend(report["results"].get(key, []))
        for key in ("passed", "failed", "skipped", "parsing_errors"):
            target["summary"][key] = target["summary"].get(key, 0) + report["summary"].get(key, 0)
    return list(merged.values())
