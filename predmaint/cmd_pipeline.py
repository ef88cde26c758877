"""``predmaint pipeline run|check|runs``: the training pipeline YAML, run here step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from predmaint.console import console, fail
from predmaint.options import DataDir, use_data_dir

DEFAULT_PIPELINE = Path("aml/pipelines/train.yml")


def register(app: typer.Typer) -> None:
    pipeline = typer.Typer(
        help="AzureML pipelines (aml/pipelines/*.yml), run on this machine.", no_args_is_help=True
    )

    @pipeline.command("run")
    def run(
        path: Annotated[Path, typer.Argument(help="pipeline YAML")] = DEFAULT_PIPELINE,
        set_: Annotated[
            list[str] | None, typer.Option("--set", help="pipeline input: name=value (repeatable)")
        ] = None,
        tag: Annotated[
            list[str] | None, typer.Option("--tag", help="run tag: name=value (repeatable)")
        ] = None,
        in_process: Annotated[
            bool, typer.Option(help="run `python -m` steps in this process (faster: imports load once)")
        ] = False,
        data_dir: DataDir = None,
    ) -> None:
        """Validate the pipeline and run its steps here, in dependency order.

        Outputs go under the data dir's runs/<run id>/<step>/."""
        from aml.run_store import StepResult
        from aml.runner import (
            PipelineError,
            PipelineSpecError,
            StepFailed,
            parse_overrides,
            run_pipeline,
        )

        layout = use_data_dir(data_dir)
        try:
            overrides = parse_overrides(set_ or [])
            tags = parse_overrides(tag or [])
        except PipelineError as exc:
            fail(str(exc))

        def on_step(step: StepResult, index: int, total: int) -> None:
            label = f"[{index + 1}/{total}] {step.name}"
            if step.status == "running":
                console.print(f"{label} ... running")
            elif step.status == "succeeded":
                console.print(f"{label} [green]done[/] in {step.seconds:.1f} s")
            else:
                console.print(f"{label} [red]failed[/] after {step.seconds:.1f} s")

        console.print(f"loading {path} (schema and wiring checks) ...")
        try:
            result = run_pipeline(path, overrides, layout, tags=tags, on_step=on_step, in_process=in_process)
        except PipelineSpecError as exc:
            console.print(f"[bold red]error:[/] invalid pipeline {exc.path}")
            for problem in exc.problems:
                console.print(f"  - {problem}")
            raise typer.Exit(2) from None
        except StepFailed as exc:
            console.print(exc.tail, markup=False, highlight=False)
            fail(f"step '{exc.step}' failed (exit code {exc.returncode})", f"full log: {exc.log_path}")
        except PipelineError as exc:
            fail(str(exc))
        console.print(f"run {result.run_id} [green]succeeded[/]: {result.run_dir}")
        for step in result.steps:
            log = Path(step.log)
            lines = log.read_text().splitlines()
            starts = [i for i, ln in enumerate(lines) if ln.startswith(f"{step.name}:")]
            summary = lines[starts[-1] :] if starts else []
            for line in summary[:8]:
                console.print(f"  {line}", markup=False, highlight=False)

    @pipeline.command("check")
    def check(path: Annotated[Path, typer.Argument(help="pipeline YAML")] = DEFAULT_PIPELINE) -> None:
        """Load the pipeline with azure-ai-ml and check its wiring, without running anything."""
        from aml.runner import PipelineSpecError, load_pipeline

        try:
            spec = load_pipeline(path)
        except PipelineSpecError as exc:
            console.print(f"[bold red]error:[/] invalid pipeline {exc.path}")
            for problem in exc.problems:
                console.print(f"  - {problem}")
            raise typer.Exit(2) from None
        console.print(f"{path}: valid; steps in order: {' -> '.join(n.name for n in spec.nodes)}")

    @pipeline.command("runs")
    def runs(
        limit: Annotated[int, typer.Option(help="how many, newest first")] = 10, data_dir: DataDir = None
    ) -> None:
        """Local pipeline runs and their status."""
        from aml.runner import list_runs

        for r in list_runs(use_data_dir(data_dir))[:limit]:
            steps = ", ".join(f"{s['name']}={s['status']}" for s in r.get("steps", []))
            console.print(f"{r['run_id']}  {r['status']:<9}  {r.get('tags', {})}  {steps}")

    @pipeline.command("submit")
    def submit(
        path: Annotated[Path, typer.Argument(help="pipeline YAML")] = DEFAULT_PIPELINE,
        set_: Annotated[list[str] | None, typer.Option("--set", help="pipeline input: name=value")] = None,
        tag: Annotated[list[str] | None, typer.Option("--tag", help="job tag: name=value")] = None,
    ) -> None:
        """Submit the pipeline to AzureML.

        Needs AZUREML_SUBSCRIPTION_ID, AZUREML_RESOURCE_GROUP, AZUREML_WORKSPACE_NAME;
        DefaultAzureCredential."""
        from aml.runner import PipelineError, parse_overrides
        from aml.submit import SubmitError, submit_pipeline

        try:
            job = submit_pipeline(path, parse_overrides(set_ or []), tags=parse_overrides(tag or []))
        except (PipelineError, SubmitError) as exc:
            fail(str(exc))
        console.print(f"submitted {job.name} ({job.status}): {job.studio_url}")

    app.add_typer(pipeline, name="pipeline")
