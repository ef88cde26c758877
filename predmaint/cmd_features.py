"""``predmaint features apply|materialize|get``: the Feast feature store from the command line.

Feast is imported inside the commands (through :mod:`features.store`), so ``predmaint --help`` stays
quick; opening the store takes a few seconds on first use.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from predmaint.console import console, fail, progress
from predmaint.options import DataDir, RedisUrl, redis_url_for, use_data_dir

if TYPE_CHECKING:
    from core.layout import DataLayout

Online = Annotated[
    str,
    typer.Option(help="online store: sqlite (embedded, default) or redis", case_sensitive=False),
]
ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", help="feature_store.yaml to use [default: features/feature_store.yaml]"),
]


def _layout(data_dir: Path | None) -> DataLayout:
    return use_data_dir(data_dir)


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO date/time", f"e.g. {option} 2026-01-31T00:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _open(layout: DataLayout, online: str, redis_url: str | None, config: Path | None) -> Any:
    from features.store import DEFAULT_CONFIG, open_store

    kind = online.lower()
    if kind not in ("sqlite", "redis"):
        fail(f"unknown online store {online!r}", "use --online sqlite or --online redis")
    url = redis_url_for(kind, redis_url)
    try:
        return open_store(layout, kind, url, config_path=config or DEFAULT_CONFIG)  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:
        fail(f"cannot open the feature store: {exc}")


def _domain_fail(exc: Exception) -> NoReturn:
    from features.errors import FeaturesError
    from features.store import START_REDIS_HINT

    if isinstance(exc, FeaturesError):
        fail(str(exc), exc.hint)
    import redis

    if isinstance(exc, redis.exceptions.ConnectionError):
        fail(f"cannot reach Redis: {exc}", START_REDIS_HINT)
    raise exc


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    days, rest = divmod(s, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours:02d}h"
    return f"{sign}{hours}h {minutes:02d}m"


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1_000 else f"{value:.3g}"


def _short(column: str, stat: str) -> str:
    return f"{column.split('_')[0][:4]} {stat}"


def register(app: typer.Typer) -> None:
    features_app = typer.Typer(help="The Feast feature store: apply definitions, materialise, read features.")

    @features_app.command("apply")
    def apply_cmd(
        online: Online = "sqlite",
        redis_url: RedisUrl = None,
        data_dir: DataDir = None,
        config: ConfigPath = None,
    ) -> None:
        """Register the entity, sources, feature view and feature service; create online tables."""
        from features.store import apply

        layout = _layout(data_dir)
        store = _open(layout, online, redis_url, config)
        try:
            names = apply(store)
        except Exception as exc:
            _domain_fail(exc)
        console.print(f"[green]applied[/] {', '.join(names)} (registry {store.config.registry.path})")

    @features_app.command("materialize")
    def materialize_cmd(
        end: Annotated[
            str | None,
            typer.Option(help="load windows ending before this (ISO, UTC if no zone) [default: all]"),
        ] = None,
        start: Annotated[str | None, typer.Option(help="ignore windows ending before this (ISO)")] = None,
        online: Online = "sqlite",
        redis_url: RedisUrl = None,
        data_dir: DataDir = None,
        config: ConfigPath = None,
    ) -> None:
        """Load every machine's newest window from the offline store into the online store."""
        from features.store import materialize, offline_files

        end_at, start_at = _when(end, "--end"), _when(start, "--start")
        layout = _layout(data_dir)
        if not offline_files(layout):
            fail(f"no offline features under {layout.windows_dir}", "run `predmaint simulate` first")
        store = _open(layout, online, redis_url, config)
        try:
            with progress() as bar:
                task = bar.add_task(f"materialising into {online}", total=None)
                summary = materialize(
                    store,
                    end_at,
                    start=start_at,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        except Exception as exc:
            _domain_fail(exc)
        console.print(
            f"[green]materialised[/] {summary.machines_written} machines from {summary.windows_read:,} "
            f"windows ({summary.start:%Y-%m-%d %H:%M} .. {summary.end:%Y-%m-%d %H:%M} UTC)"
        )

    @features_app.command("get")
    def get_cmd(
        machine_ids: Annotated[list[str], typer.Argument(help="machine ids", metavar="MACHINE_ID...")],
        online: Online = "sqlite",
        redis_url: RedisUrl = None,
        now: Annotated[
            str | None, typer.Option(help="age features as of this time (ISO) [default: now]")
        ] = None,
        data_dir: DataDir = None,
        config: ConfigPath = None,
    ) -> None:
        """Print the online features of machines with their age and a stale flag (older than the TTL)."""
        from rich.console import Console
        from rich.table import Table

        from core.contract import FEATURE_TTL, FEATURE_VIEW, STAT_FEATURES
        from features.store import read_online

        now_at = _when(now, "--now") or datetime.now(UTC)
        layout = _layout(data_dir)
        store = _open(layout, online, redis_url, config)
        try:
            rows = read_online(store, machine_ids, now_at)
        except Exception as exc:
            _domain_fail(exc)
        table = Table(
            title=f"{FEATURE_VIEW} ({online}), as of {now_at:%Y-%m-%d %H:%M} UTC, TTL {FEATURE_TTL}"
        )
        for header in ("machine", "window end (UTC)", "age", "stale", "sparse", "readings"):
            table.add_column(header)
        for _, column, stat in STAT_FEATURES:
            table.add_column(_short(column, stat), justify="right")
        missing = 0
        for row in rows:
            if row.values is None:
                missing += 1
                table.add_row(row.machine_id, "[red]not found[/]", "-", "[red]yes[/]", "-", "-")
                continue
            assert row.event_timestamp is not None
            table.add_row(
                row.machine_id,
                f"{row.event_timestamp:%Y-%m-%d %H:%M}",
                _age(row.age_s),
                "[red]yes[/]" if row.is_stale else "no",
                "[yellow]yes[/]" if row.is_sparse else "no",
                f"{row.values['reading_count']:.0f}",
                *(_num(row.values[name]) for name, _, _ in STAT_FEATURES),
            )
        out = Console() if sys.stdout.isatty() else Console(width=180)
        out.print(table)
        if missing:
            hint = "run `predmaint features materialize`" + (
                "" if online == "sqlite" else f" --online {online}"
            )
            fail(f"{missing} of {len(rows)} machines have no online features", hint, code=1)

    app.add_typer(features_app, name="features")
