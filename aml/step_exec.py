"""How one pipeline node runs here: its command with the values substituted, then either a subprocess
in the component's ``code`` folder or (``python -m`` commands, on request) this interpreter, with the
output in the step's log."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from aml.pipeline_errors import PipelineError
from aml.pipeline_spec import EXPR, ComponentSpec, NodeSpec, binding

LOG_FILE: Final = "log.txt"


def _component_default(comp: ComponentSpec, name: str) -> str | None:
    spec = comp.inputs.get(name)
    if isinstance(spec, dict) and "default" in spec:
        d = spec["default"]
        return str(d).lower() if isinstance(d, bool) else str(d)
    return None


def resolve_command(
    node: NodeSpec, pipeline_values: Mapping[str, str], outputs: Mapping[str, Mapping[str, str]]
) -> tuple[list[str], str]:
    values: dict[str, str] = {}
    for name in node.component.inputs:
        if name in node.inputs:
            bound = node.inputs[name]
            if isinstance(bound, dict):
                bound = bound.get("path", bound.get("value"))
            expr = binding(bound)
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

    text = EXPR.sub(substitute, " ".join(node.component.command.split()))
    argv = shlex.split(text)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv, text


def run_subprocess(argv: list[str], cwd: Path, log_path: Path) -> int:
    pythonpath = os.pathsep.join(p for p in (str(cwd), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": pythonpath}
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
        except OSError as exc:
            log.write(f"cannot start {argv[0]}: {exc}\n")
            return 127
    return proc.returncode


def module_call(argv: list[str]) -> str | None:
    if len(argv) >= 3 and argv[0] == sys.executable and argv[1] == "-m":
        return argv[2]
    return None


def run_in_process(argv: list[str], log_path: Path) -> int:
    """``python -m module args`` in this interpreter; returns its exit code."""
    import contextlib
    import runpy
    import traceback
    import warnings

    module = module_call(argv)
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


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
