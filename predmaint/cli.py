"""The ``predmaint`` command: a thin shell over the project's parts.

Each ``predmaint/cmd_*.py`` module registers its own commands through ``register(app)`` and keeps
heavy imports (feast, mlflow, evidently) inside the command functions, so ``predmaint --help`` is
quick.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import predmaint

app = typer.Typer(
    name="predmaint",
    help="Predictive maintenance for fleets of machines: the local loop and its tools.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Click's plain help: wrapped at 80 columns with option names never cut off (Rich's panels
    # truncate them at that width); the setting reaches every sub-command.
    rich_markup_mode=None,
)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(predmaint.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"predmaint.{info.name}").register(app)


_register_commands()


def main() -> None:
    app()
