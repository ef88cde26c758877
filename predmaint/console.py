"""Shared console output for CLI commands: one Console, progress bars, and clean failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def fail(message: str, hint: str | None = None, code: int = 2) -> NoReturn:
    """Print a one-line error (and a hint) instead of a stack trace, and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}")
    if hint:
        console.print(f"[dim]hint:[/] {hint}")
    raise typer.Exit(code)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool) -> None:
    """``rows`` under ``header``: a Markdown table on stdout, or a rich table on the console."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        typer.echo("\n".join(lines))
        return
    from rich.table import Table

    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    console.print(table)
