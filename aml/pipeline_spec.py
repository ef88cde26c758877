"""Load a pipeline YAML and its components and check them: azure-ai-ml's schema validation, then the
wiring azure-ai-ml does not check (see :mod:`aml.runner` for the list). Nothing here runs anything."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from aml.pipeline_errors import PipelineSpecError

EXPR: Final = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
"""A ``${{...}}`` expression; group 1 is what it names (``inputs.x``, ``parent.jobs.n.outputs.y``)."""


@dataclass(frozen=True)
class ComponentSpec:
    path: Path
    name: str
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    command: str
    code_dir: Path


@dataclass(frozen=True)
class NodeSpec:
    name: str
    component: ComponentSpec
    inputs: dict[str, Any]
    """Bindings as written: a literal or a ``${{...}}`` expression."""
    outputs: list[str]
    depends_on: list[str]


@dataclass(frozen=True)
class PipelineSpec:
    path: Path
    inputs: dict[str, Any]
    """Pipeline inputs as written (literal, or a mapping with ``type`` and ``path``/``default``)."""
    nodes: list[NodeSpec]
    """In dependency order."""
    tags: dict[str, str] = field(default_factory=dict)
    experiment_name: str | None = None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineSpecError(path, [f"cannot read: {exc}"]) from exc
    if not isinstance(data, dict):
        raise PipelineSpecError(path, ["not a YAML mapping"])
    return data


def _validate_with_azure_ai_ml(path: Path, components: list[Path]) -> None:
    """Schema validation by azure-ai-ml's own loaders (no credentials, no network)."""
    import logging

    from azure.ai.ml import load_component, load_job

    # azure-ai-ml logs "This is an experimental class" for schema classes it merely loads.
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
    problems = []
    for comp in components:
        try:
            load_component(source=comp)
        except Exception as exc:  # azure-ai-ml raises several unrelated types
            problems.append(f"component {comp.name}: {_first_line(exc)}")
    if not problems:
        try:
            load_job(source=path)
        except Exception as exc:
            problems.append(f"schema: {_first_line(exc)}")
    if problems:
        raise PipelineSpecError(path, problems)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[:6])[:600]


def _load_component(path: Path) -> ComponentSpec:
    raw = _read_yaml(path)
    code = raw.get("code")
    code_dir = (path.parent / str(code)).resolve() if code else path.parent.resolve()
    return ComponentSpec(
        path=path,
        name=str(raw.get("name", path.stem)),
        inputs=dict(raw.get("inputs") or {}),
        outputs=dict(raw.get("outputs") or {}),
        command=str(raw.get("command", "")),
        code_dir=code_dir,
    )


def check_component(comp: ComponentSpec) -> list[str]:
    """Expressions in the command that the component does not declare."""
    problems = []
    if not comp.command.strip():
        problems.append(f"component {comp.path.name}: no command")
    for expr in EXPR.findall(comp.command):
        kind, _, name = expr.partition(".")
        if kind == "inputs" and name not in comp.inputs:
            problems.append(f"component {comp.path.name}: command uses ${{{{inputs.{name}}}}}, not declared")
        elif kind == "outputs" and name not in comp.outputs:
            problems.append(f"component {comp.path.name}: command uses ${{{{outputs.{name}}}}}, not declared")
        elif kind not in ("inputs", "outputs"):
            problems.append(f"component {comp.path.name}: unsupported expression ${{{{{expr}}}}}")
    return problems


def binding(value: Any) -> str | None:
    if isinstance(value, str):
        m = EXPR.fullmatch(value.strip())
        return m.group(1) if m else None
    return None


def check_wiring(
    pipeline_inputs: Mapping[str, Any], jobs: Mapping[str, Any], components: Mapping[str, ComponentSpec]
) -> tuple[list[str], dict[str, list[str]]]:
    """Wiring problems, and each node's upstream nodes."""
    problems: list[str] = []
    deps: dict[str, list[str]] = {}
    for node, job in jobs.items():
        comp = components[node]
        deps[node] = []
        bound = dict((job or {}).get("inputs") or {})
        for name, value in bound.items():
            if name not in comp.inputs:
                problems.append(f"node '{node}': input '{name}' is not declared by {comp.path.name}")
            if isinstance(value, dict):
                value = value.get("path", value.get("value"))
            expr = binding(value)
            if expr is None:
                continue
            parts = expr.split(".")
            if parts[:2] == ["parent", "inputs"] and len(parts) == 3:
                if parts[2] not in pipeline_inputs:
                    problems.append(
                        f"node '{node}': input '{name}' binds to undeclared pipeline input '{parts[2]}'"
                    )
            elif parts[:2] == ["parent", "jobs"] and len(parts) == 5 and parts[3] == "outputs":
                src, out = parts[2], parts[4]
                if src not in jobs:
                    problems.append(f"node '{node}': input '{name}' binds to missing node '{src}'")
                elif out not in components[src].outputs:
                    problems.append(
                        f"node '{node}': input '{name}' binds to '{src}.outputs.{out}', "
                        f"which {components[src].path.name} does not declare"
                    )
                else:
                    deps[node].append(src)
            else:
                problems.append(f"node '{node}': input '{name}' has unsupported binding ${{{{{expr}}}}}")
        for name, spec in comp.inputs.items():
            optional = isinstance(spec, dict) and (spec.get("optional") or "default" in spec)
            if name not in bound and not optional:
                problems.append(f"node '{node}': required input '{name}' of {comp.path.name} is not bound")
        for name in dict((job or {}).get("outputs") or {}):
            if name not in comp.outputs:
                problems.append(f"node '{node}': output '{name}' is not declared by {comp.path.name}")
    return problems, deps


def _order(deps: Mapping[str, list[str]], path: Path) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, trail: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise PipelineSpecError(path, [f"cycle between nodes: {' -> '.join([*trail, n])}"])
        state[n] = 1
        for d in deps[n]:
            visit(d, [*trail, n])
        state[n] = 2
        order.append(n)

    for n in deps:
        visit(n, [])
    return order


def load_pipeline(path: Path | str, *, validate_schema: bool = True) -> PipelineSpec:
    """Load and check a pipeline YAML (see the module docstring). Raises :class:`PipelineSpecError`."""
    path = Path(path).resolve()
    if not path.is_file():
        raise PipelineSpecError(path, ["no such file"])
    raw = _read_yaml(path)
    if raw.get("type") != "pipeline":
        raise PipelineSpecError(path, [f"type is {raw.get('type')!r}, expected 'pipeline'"])
    jobs: dict[str, Any] = dict(raw.get("jobs") or {})
    if not jobs:
        raise PipelineSpecError(path, ["no jobs"])
    problems: list[str] = []
    components: dict[str, ComponentSpec] = {}
    for node, job in jobs.items():
        ref = (job or {}).get("component")
        if not isinstance(ref, str) or ref.startswith("azureml:"):
            problems.append(f"node '{node}': component must be a local YAML path to run here, got {ref!r}")
            continue
        comp_path = (path.parent / ref).resolve()
        if not comp_path.is_file():
            problems.append(f"node '{node}': component file {ref} does not exist")
            continue
        components[node] = _load_component(comp_path)
    if problems:
        raise PipelineSpecError(path, problems)
    if validate_schema:
        _validate_with_azure_ai_ml(path, sorted({c.path for c in components.values()}))
    for comp in {c.path: c for c in components.values()}.values():
        problems += check_component(comp)
    wiring, deps = check_wiring(dict(raw.get("inputs") or {}), jobs, components)
    problems += wiring
    if problems:
        raise PipelineSpecError(path, problems)
    order = _order(deps, path)
    nodes = [
        NodeSpec(
            name=n,
            component=components[n],
            inputs=dict((jobs[n] or {}).get("inputs") or {}),
            outputs=list(components[n].outputs),
            depends_on=sorted(set(deps[n])),
        )
        for n in order
    ]
    return PipelineSpec(
        path=path,
        inputs=dict(raw.get("inputs") or {}),
        nodes=nodes,
        tags={str(k): str(v) for k, v in (raw.get("tags") or {}).items()},
        experiment_name=raw.get("experiment_name"),
    )
