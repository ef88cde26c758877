"""Run an AzureML pipeline YAML on this machine, step by step, from the same files AzureML runs.

:func:`load_pipeline` loads the pipeline and its components through azure-ai-ml (``load_job``,
``load_component``: schema validation) and then checks what azure-ai-ml does not:

- every ``${{inputs.x}}`` / ``${{outputs.y}}`` in a component's command is declared by it;
- every node input and output is declared by the node's component, and required inputs are bound;
- every binding ``${{parent.inputs.x}}`` names a pipeline input, and every
  ``${{parent.jobs.n.outputs.y}}`` names an existing node and one of its declared outputs;
- the nodes form no cycle, and every ``--set`` name is a pipeline input.

:func:`run_pipeline` then runs each node's command in dependency order. Inputs and outputs map to
local folders: outputs to ``<layout.runs_dir>/<run id>/<node>/<output>/``; a datastore input
``azureml://datastores/<name>/paths/<rel>`` to ``<layout.root>/<rel>`` (so the pipeline's
``data_dir`` is the local data directory); a relative path to the pipeline file's folder. A command
starting with ``python`` runs with this interpreter, in the component's ``code`` folder.

Every run writes ``run.json`` (inputs, tags such as ``trigger``/``alert_id``, status per step) in its
folder, so the state of local runs can be derived from ``layout.runs_dir`` (:func:`list_runs`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from core.errors import PredMaintError
from core.layout import DataLayout

RUN_FILE: Final = "run.json"
LOG_FILE: Final = "log.txt"
_EXPR: Final = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
_DATASTORE: Final = re.compile(r"^azureml://datastores/(?P<store>[^/]+)/paths/?(?P<rel>.*)$")
_PATH_TYPES: Final = ("uri_folder", "uri_file", "mltable", "custom_model", "mlflow_model")


class PipelineError(PredMaintError):
    """Base of the runner's errors; the CLI prints the message without a stack trace."""

    code = "pipeline_error"


class PipelineSpecError(PipelineError):
    """The pipeline or a component is invalid: schema or wiring. ``problems`` lists each one."""

    status = 422
    code = "invalid_pipeline"

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class StepFailed(PipelineError):
    """A node's command exited non-zero."""

    code = "step_failed"

    def __init__(self, step: str, returncode: int, log_path: Path, tail: str, run_dir: Path) -> None:
        self.step = step
        self.returncode = returncode
        self.log_path = log_path
        self.tail = tail
        self.run_dir = run_dir
        super().__init__(f"step '{step}' failed (exit code {returncode}); log: {log_path}\n{tail}")


# --- the plan ------------------------------------------------------------------------------------


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
    for expr in _EXPR.findall(comp.command):
        kind, _, name = expr.partition(".")
        if kind == "inputs" and name not in comp.inputs:
            problems.append(f"component {comp.path.name}: command uses ${{{{inputs.{name}}}}}, not declared")
        elif kind == "outputs" and name not in comp.outputs:
            problems.append(f"component {comp.path.name}: command uses ${{{{outputs.{name}}}}}, not declared")
        elif kind not in ("inputs", "outputs"):
            problems.append(f"component {comp.path.name}: unsupported expression ${{{{{expr}}}}}")
    return problems


def _binding(value: Any) -> str | None:
    if isinstance(value, str):
        m = _EXPR.fullmatch(value.strip())
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
            expr = _binding(value)
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


# --- running -------------------------------------------------------------------------------------

StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped"]


@dataclass
class StepResult:
    name: str
    status: StepStatus = "pending"
    seconds: float = 0.0
    returncode: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""
    command: str = ""


@dataclass
class PipelineRunResult:
    run_id: str
    run_dir: Path
    pipeline: str
    status: Literal["running", "succeeded", "failed"]
    inputs: dict[str, str]
    tags: dict[str, str]
    steps: list[StepResult]
    started_at: str
    finished_at: str | None = None
    error: str | None = None

    def output(self, step: str, name: str) -> Path:
        """Local folder of a node's output."""
        for s in self.steps:
            if s.name == step and name in s.outputs:
                return Path(s.outputs[name])
        raise KeyError(f"{step}.outputs.{name}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        return data


StepEvent = Callable[[StepResult, int, int], None]
"""Called as ``(step, index, total)`` when a step starts and when it ends."""


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["name=value", ...]`` into a dict; raises :class:`PipelineError` on a malformed item."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise PipelineError(f"--set expects name=value, got {item!r}")
        out[name.strip()] = value
    return out


def _input_value(name: str, spec: Any, override: str | None, base: Path, layout: DataLayout) -> str:
    kind = spec.get("type") if isinstance(spec, dict) else None
    if override is not None:
        raw: Any = override
    elif isinstance(spec, dict):
        raw = spec.get("path", spec.get("default", spec.get("value")))
    else:
        raw = spec
    if raw is None:
        raise PipelineError(f"pipeline input '{name}' has no value; pass --set {name}=...")
    if kind in _PATH_TYPES:
        return local_path(str(raw), base, layout)
    if isinstance(raw, bool):
        return str(raw).lower()
    return str(raw)


def local_path(value: str, base: Path, layout: DataLayout) -> str:
    """Where a data input lives here: datastore URIs under ``layout.root``, relative paths under
    ``base`` (the pipeline's folder)."""
    m = _DATASTORE.match(value)
    if m:
        return str((layout.root / m.group("rel")).resolve())
    if "://" in value or value.startswith("azureml:"):
        raise PipelineError(f"cannot map {value!r} to a local path; pass a local folder with --set")
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _component_default(comp: ComponentSpec, name: str) -> str | None:
    spec = comp.inputs.get(name)
    if isinstance(spec, dict) and "default" in spec:
        d = spec["default"]
        return str(d).lower() if isinstance(d, bool) else str(d)
    return None


def _resolve_command(
    node: NodeSpec, pipeline_values: Mapping[str, str], outputs: Mapping[str, Mapping[str, str]]
) -> tuple[list[str], str]:
    values: dict[str, str] = {}
    for name in node.component.inputs:
        if name in node.inputs:
            bound = node.inputs[name]
            if isinstance(bound, dict):
                bound = bound.get("path", bound.get("value"))
            expr = _binding(bound)
            if expr is None:
                values[name] = str(bound).lower() if isinstance(bound, bool) else str(bound)
            else:
                parts = expr.split(".")
                values[name] = (
                    pipeline_values[parts[2]] if parts[1] == "inputs" else outputs[parts[2]][parts[4]]
                )
        else:
            default = _component_default(node.component, name)
            if default is not None:
                values[name] = default

    def substitute(m: re.Match[str]) -> str:
        kind, _, name = m.group(1).partition(".")
        if kind == "inputs":
            if name not in values:
                raise PipelineError(f"step '{node.name}': input '{name}' has no value")
            return shlex.quote(values[name])
        return shlex.quote(outputs[node.name][name])

    text = _EXPR.sub(substitute, " ".join(node.component.command.split()))
    argv = shlex.split(text)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv, text


TAG_INPUTS: Final = ("trigger", "alert_id")
"""Run tags that are also passed as pipeline inputs of the same name (when the pipeline declares
them and ``--set`` does not), so the registered model version carries them too."""


def tags_as_inputs(
    tags: Mapping[str, str] | None, inputs: Mapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, str]:
    return {
        k: str(v) for k, v in (tags or {}).items() if k in TAG_INPUTS and k in inputs and k not in overrides
    }


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run_pipeline(
    path: Path | str,
    overrides: Mapping[str, str] | None = None,
    layout: DataLayout | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
    on_step: StepEvent | None = None,
    in_process: bool = False,
) -> PipelineRunResult:
    """Run a pipeline YAML here (see the module docstring) and return what happened.

    ``overrides`` set pipeline inputs by name (``--set``); ``tags`` (e.g. ``trigger``, ``alert_id``)
    are recorded in ``run.json`` beside the pipeline's own tags, and ``trigger``/``alert_id`` also
    set the pipeline inputs of those names unless overridden (see :data:`TAG_INPUTS`).

    Raises :class:`PipelineSpecError` before anything runs if the pipeline is invalid, and
    :class:`StepFailed` (naming the step) when a command fails; later steps are then marked skipped
    in ``run.json``.

    ``in_process=True`` runs ``python -m <module> ...`` commands inside this interpreter (same
    arguments, output to the step's log), which saves each step's imports (mlflow, sklearn, feast:
    seconds each); other commands still run as subprocesses.
    """
    layout = layout or DataLayout.from_env()
    spec = load_pipeline(path)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(spec.inputs))
    if unknown:
        raise PipelineSpecError(
            spec.path,
            [f"--set {n}: no such pipeline input (known: {', '.join(spec.inputs)})" for n in unknown],
        )
    overrides = {**tags_as_inputs(tags, spec.inputs, overrides), **overrides}
    base = spec.path.parent
    values = {n: _input_value(n, s, overrides.get(n), base, layout) for n, s in spec.inputs.items()}
    run_id = run_id or new_run_id()
    run_dir = layout.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    outputs = {n.name: {o: str(run_dir / n.name / o) for o in n.outputs} for n in spec.nodes}
    result = PipelineRunResult(
        run_id=run_id,
        run_dir=run_dir,
        pipeline=str(spec.path),
        status="running",
        inputs=values,
        tags={**spec.tags, **{str(k): str(v) for k, v in (tags or {}).items()}},
        steps=[StepResult(name=n.name, outputs=outputs[n.name]) for n in spec.nodes],
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _save(result)
    total = len(spec.nodes)
    for index, (node, step) in enumerate(zip(spec.nodes, result.steps, strict=True)):
        for folder in outputs[node.name].values():
            Path(folder).mkdir(parents=True, exist_ok=True)
        argv, text = _resolve_command(node, values, outputs)
        step.command = text
        step.log = str(run_dir / node.name / LOG_FILE)
        step.status = "running"
        _save(result)
        if on_step:
            on_step(step, index, total)
        started = time.perf_counter()
        if in_process and _module_call(argv) is not None:
            returncode = _run_in_process(argv, Path(step.log))
        else:
            returncode = _run_subprocess(argv, node.component.code_dir, Path(step.log))
        step.seconds = round(time.perf_counter() - started, 2)
        step.returncode = returncode
        step.status = "succeeded" if returncode == 0 else "failed"
        if on_step:
            on_step(step, index, total)
        if returncode != 0:
            for later in result.steps[index + 1 :]:
                later.status = "skipped"
            result.status = "failed"
            result.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
            tail = _tail(Path(step.log))
            result.error = f"step '{node.name}' failed (exit code {returncode})"
            _save(result)
            raise StepFailed(node.name, returncode, Path(step.log), tail, run_dir)
        _save(result)
    result.status = "succeeded"
    result.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    _save(result)
    return result


def _run_subprocess(argv: list[str], cwd: Path, log_path: Path) -> int:
    pythonpath = os.pathsep.join(p for p in (str(cwd), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": pythonpath}
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
        except OSError as exc:
            log.write(f"cannot start {argv[0]}: {exc}\n")
            return 127
    return proc.returncode


def _module_call(argv: list[str]) -> str | None:
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m":
        return argv[2]
    return None


def _run_in_process(argv: list[str], log_path: Path) -> int:
    """``python -m module args`` in this interpreter; returns its exit code."""
    import contextlib
    import runpy
    import traceback
    import warnings

    module = _module_call(argv)
    assert module is not None
    saved_argv = sys.argv
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        sys.argv = [module, *argv[3:]]
        try:
            with warnings.catch_warnings():
                # As in a subprocess: Python's default warning filters, not the caller's (pytest
                # turns warnings into errors); warnings go to the step's log.
                warnings.resetwarnings()
                warnings.simplefilter("default")
                warnings.showwarning = _log_warning(log)
                # runpy warns when the module was imported before (tests do): harmless here.
                warnings.filterwarnings("ignore", message=".*found in sys.modules", category=RuntimeWarning)
                runpy.run_module(module, run_name="__main__", alter_sys=False)
            return 0
        except SystemExit as exc:
            code = exc.code
            if code is None:
                return 0
            if isinstance(code, int):
                return code
            print(code, file=log)
            return 1
        except Exception:
            traceback.print_exc(file=log)
            return 1
        finally:
            sys.argv = saved_argv


def _log_warning(log: Any) -> Callable[..., None]:
    import warnings

    def show(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        log.write(warnings.formatwarning(message, category, filename, lineno, line))

    return show


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _save(result: PipelineRunResult) -> None:
    target = result.run_dir / RUN_FILE
    tmp = target.with_name(f".{RUN_FILE}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2))
    tmp.replace(target)


def list_runs(layout: DataLayout) -> list[dict[str, Any]]:
    """Every local run's ``run.json`` (newest first): run_id, status, tags, steps, times."""
    if not layout.runs_dir.is_dir():
        return []
    runs = []
    for p in layout.runs_dir.glob(f"*/{RUN_FILE}"):
        try:
            runs.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(runs, key=lambda r: r.get("started_at", ""), reverse=True)
