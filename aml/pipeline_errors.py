"""The pipeline runner's errors: one base the CLI prints without a stack trace."""

from __future__ import annotations

from pathlib import Path

from core.errors import PredMaintError


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
