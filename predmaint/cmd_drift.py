"""``predmaint drift``: serve the sidecar, or compare two datasets from files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from drift.calibration import DEFAULT_FALSE_ALARM_PROBABILITY
from drift.detector import DEFAULT_DRIFT_SHARE, DEFAULT_MIN_ROWS, DEFAULT_THRESHOLD
from predmaint.console import console, fail
from predmaint.options import DataDir, ModelPath, OutputFormat, TrackingUri, use_data_dir

drift_app = typer.Typer(help="Data drift: the sidecar and ad-hoc comparisons.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(drift_app, name="drift")


@drift_app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="bind address [default: DRIFT_HOST or 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: DRIFT_PORT or 8001]")] = None,
    model_path: ModelPath = None,
    tracking_uri: TrackingUri = None,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the drift sidecar: tail the inference log, check drift on a schedule, serve /drift and
    /metrics. Other settings: DRIFT_* variables (docs/drift.md)."""
    from pydantic import ValidationError

    from drift.settings import DriftSettings

    layout = use_data_dir(data_dir)
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "model_path": model_path,
            "tracking_uri": tracking_uri,
        }.items()
        if v is not None
    }
    try:
        settings = DriftSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid drift setting DRIFT_{'_'.join(map(str, first['loc'])).upper()}: {first['msg']}")
    from drift.drift_service import create_app
    from service.http_server import serve as serve_app

    source = settings.model_path or f"registry {settings.model_name}@champion"
    console.print(
        f"drift sidecar on http://{settings.host}:{settings.port} (reference: {source}; "
        f"inference log: {settings.resolved_log_dir(layout)})"
    )
    serve_app(create_app(settings), settings, log_level)


def _read(path: Path) -> object:
    import pandas as pd

    if not path.is_file():
        fail(f"{path} does not exist", "give a CSV or parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path}: {exc}")
    fail(f"{path}: unknown file type {suffix or '(none)'}", "use .csv or .parquet")


@drift_app.command("compare")
def compare(
    reference: Annotated[Path, typer.Argument(help="reference dataset (.csv or .parquet)")],
    current: Annotated[Path, typer.Argument(help="current dataset (.csv or .parquet)")],
    columns: Annotated[
        str | None, typer.Option(help="comma-separated columns [default: every numeric column]")
    ] = None,
    fixed: Annotated[
        bool,
        typer.Option(
            "--fixed",
            help="use one fixed --threshold and --drift-share instead of thresholds calibrated on the "
            "reference (its rows in time order)",
        ),
    ] = False,
    false_alarm_probability: Annotated[
        float, typer.Option(help="calibrated: per-check false-alarm probability of the dataset verdict")
    ] = DEFAULT_FALSE_ALARM_PROBABILITY,
    threshold: Annotated[
        float, typer.Option(help="--fixed: per-column normalised Wasserstein threshold")
    ] = DEFAULT_THRESHOLD,
    drift_share: Annotated[
        float, typer.Option(help="--fixed: share of drifted columns that means dataset drift")
    ] = DEFAULT_DRIFT_SHARE,
    min_rows: Annotated[
        int, typer.Option(help="rows (finite values) needed per side and column")
    ] = DEFAULT_MIN_ROWS,
    html: Annotated[Path | None, typer.Option(help="also write the Evidently HTML report here")] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table, json or markdown")
    ] = OutputFormat.table,
    json_out: Annotated[bool, typer.Option("--json", hidden=True, help="deprecated: --format json")] = False,
) -> None:
    """Compare two datasets with Evidently (normalised Wasserstein) and print each column's score.
    Thresholds are calibrated on the reference for the current dataset's size by default."""
    import pandas as pd
    from pydantic import ValidationError
    from rich.table import Table

    from core.bundle import frame_hash
    from drift.calibration import calibrate
    from drift.detector import DriftConfig, ReferenceInfo, check_drift

    try:
        config = DriftConfig(threshold=threshold, drift_share=drift_share, min_rows=min_rows)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}")
    ref, cur = _read(reference), _read(current)
    assert isinstance(ref, pd.DataFrame) and isinstance(cur, pd.DataFrame)
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    numeric = cols or [str(c) for c in ref.select_dtypes(include="number").columns]
    digest = frame_hash(ref[[c for c in numeric if c in ref.columns]])
    calibration = None
    if not fixed:
        if not 0 < false_alarm_probability < 0.5:
            fail("--false-alarm-probability must lie in (0, 0.5)")
        with console.status("calibrating on the reference ..."):
            calibration = calibrate(
                ref, numeric, len(cur), reference_hash=digest, false_alarm_probability=false_alarm_probability
            )
    with console.status("running Evidently ..."):
        check = check_drift(
            ref,
            cur,
            columns=cols,
            config=config,
            reference_info=ReferenceInfo(
                model_version=None, reference_hash=digest, rows=len(ref), source=str(reference)
            ),
            calibration=calibration,
        )
    result = check.result
    if json_out:
        output = OutputFormat.json
    if output is OutputFormat.json:
        typer.echo(result.model_dump_json(indent=2))
    elif output is OutputFormat.markdown:
        lines = ["| column | score | threshold | drifted |", "|---|---|---|---|"]
        lines += [
            f"| {name} | {col.score:.4f} | {col.threshold:.4g} | {'yes' if col.drifted else 'no'} |"
            for name, col in sorted(result.columns.items(), key=lambda kv: -kv[1].score)
        ]
        typer.echo("\n".join(lines))
        typer.echo(f"\ndrift_detected: {str(result.drift_detected).lower()} ({result.status})")
    else:
        table = Table(title=f"{reference.name} -> {current.name}")
        for name in ("column", "score", "threshold", "drifted", "ref rows", "cur rows"):
            table.add_column(name, justify="left" if name == "column" else "right")
        for name, col in sorted(result.columns.items(), key=lambda kv: -kv[1].score):
            table.add_row(
                name,
                f"{col.score:.4f}",
                f"{col.threshold:.4g}",
                "[red]yes[/]" if col.drifted else "no",
                str(col.reference_rows),
                str(col.current_rows),
            )
        for name in result.excluded:
            table.add_row(name, "-", "-", "[dim]excluded[/]", "-", "-")
        out = console.__class__()  # stdout
        out.print(table)
        for name, why in result.excluded.items():
            out.print(f"[dim]{name} excluded: {why}[/]")
        if result.status == "ok":
            verdict = "[bold red]DRIFT[/]" if result.drift_detected else "[bold green]no drift[/]"
            rule = (
                f"any column at or above its threshold calibrated for p = "
                f"{result.calibration.false_alarm_probability:g} per check"
                if result.calibration is not None
                else f"dataset drift at >= {result.drift_share:.0%}"
            )
            out.print(
                f"{verdict}: {result.drifted_share:.0%} of {len(result.columns)} columns drifted ({rule})"
            )
        else:
            out.print(f"[yellow]no verdict[/]: {result.reason}")
    if html is not None:
        page = check.html()
        if page is None:
            fail(f"no report written: {result.reason}")
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(page)
        console.print(f"report written to {html}")
