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

Modules: :mod:`aml.pipeline_spec` (loading and checks), :mod:`aml.step_exec` (one node's command,
subprocess or in process), :mod:`aml.run_store` (``run.json``), :mod:`aml.pipeline_errors`; this one
maps the inputs to local paths and runs the nodes in order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aml.pipeline_errors import PipelineError, PipelineSpecError, StepFailed
from aml.pipeline_spec import load_pipeline
from aml.run_store import PipelineRunResult, StepResult, list_runs, new_run_id, save_run
from aml.step_exec import LOG_FILE, log_tail, module_call, resolve_command, run_in_process, run_subprocess
from core.layout import DataLayout

__all__ = [
    "PipelineError",
    "PipelineSpecError",
    "StepEvent",
    "StepFailed",
    "list_runs",
    "load_pipeline",
    "local_path",
    "parse_overrides",
    "run_pipeline",
    "tags_as_inputs",
]

_DATASTORE: Final = re.compile(r"^azureml://datastores/(?P<store>[^/]+)/paths/?(?P<rel>.*)$")
_PATH_TYPES: Final = ("uri_folder", "uri_file", "mltable", "custom_model", "mlflow_model")


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


TAG_INPUTS: Final = ("trigger", "alert_id")
"""Run tags that are also passed as pipeline inputs of the same name (when the pipeline declares
them and ``--set`` does not), so the registered model version carries them too."""


def tags_as_inputs(
    tags: Mapping[str, str] | None, inputs: Mapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, str]:
    return {
        k: str(v) for k, v in (tags or {}).items() if k in TAG_INPUTS and k in inputs and k not in overrides
    }


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
    save_run(result)
    total = len(spec.nodes)
    for index, (node, step) in enumerate(zip(spec.nodes, result.steps, strict=True)):
        for folder in outputs[node.name].values():
            Path(folder).mkdir(parents=True, exist_ok=True)
        argv, text = resolve_command(node, values, outputs)
        step.command = text
        step.log = str(run_dir / node.name / LOG_FILE)
        step.status = "running"
        save_run(result)
        if on_step:
            on_step(step, index, total)
        started = time.perf_counter()
        if in_process and module_call(argv) is not None:
            returncode = run_in_process(argv, Path(step.log))
        else:
            returncode = run_subprocess(argv, node.component.code_dir, Path(step.log))
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
            tail = log_tail(Path(step.log))
            result.error = f"step '{node.name}' failed (exit code {returncode})"
            save_run(result)
            raise StepFailed(node.name, returncode, Path(step.log), tail, run_dir)
        save_run(result)
    result.status = "succeeded"
    result.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    save_run(result)
    return result
