"""Render and lint the Helm chart offline with helm-python-sdk (Helm v4, no binary, no cluster).

Runs in the validators environment (tools/validators/.venv), which the project's tests call as a
subprocess. Prints one JSON object on stdout:
``{"lint": {...}, "renders": {"<scenario>": {"manifests": "<multi-doc YAML>"} | {"error": "..."}}}``.

Usage: render_chart.py CHART_DIR --namespace NS --release NAME [--kube-version v1.36.0]
       [--scenario NAME=VALUES_FILE ...]   (the scenario "values.yaml" renders the chart defaults only)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import helm_python as helm


def _render(chart: Any, values: dict[str, Any], release: str, namespace: str) -> dict[str, str]:
    chart.validate_schema(values)
    manifests = chart.render(values, name=release, namespace=namespace, is_install=True)
    docs = []
    for path in sorted(manifests):
        text = manifests[path].strip()
        if path.endswith("NOTES.txt") or not text:
            continue
        docs.append(f"# Source: {path}\n{text}")
    return {
        "manifests": "\n---\n".join(docs) + "\n",
        "notes": manifests.get(f"{chart.name}/templates/NOTES.txt", ""),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart", type=Path)
    parser.add_argument("--namespace", default="pred-maint")
    parser.add_argument("--release", default="pred-maint")
    parser.add_argument("--kube-version", default="v1.36.0")  # runners.py passes KUBERNETES_VERSION
    parser.add_argument("--scenario", action="append", default=[], metavar="NAME=FILE")
    args = parser.parse_args(argv)

    chart = helm.Chart.load(args.chart)
    report: dict[str, Any] = {"renders": {}}
    scenarios: dict[str, dict[str, Any]] = {"values.yaml": {}}
    for item in args.scenario:
        name, _, file = item.partition("=")
        scenarios[name] = helm.values_from_yaml(Path(file).read_text(encoding="utf-8")) or {}
    for name, values in scenarios.items():
        try:
            report["renders"][name] = _render(chart, values, args.release, args.namespace)
        except helm.HelmError as exc:
            report["renders"][name] = {"error": f"{type(exc).__name__}: {exc}"}
        lint = helm.lint(
            args.chart, values, strict=True, namespace=args.namespace, kube_version=args.kube_version
        )
        report.setdefault("lint", {})[name] = lint
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
