"""``predmaint serve``: the scoring facade (``scoring.main``) under uvicorn, one worker.

Options override the ``SCORING_*`` environment (see ``scoring.settings``); nothing heavy is imported
until the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from predmaint.console import console, fail


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str | None, typer.Option(help="bind address [default: SCORING_HOST or 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port [default: SCORING_PORT or 8000]")] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="serve this bundle directory instead of the registry's champion")
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow registry to watch [default: the local data directory's]")
    ] = None,
    online: Annotated[str | None, typer.Option(help="online store: sqlite, redis or none")] = None,
    redis_url: Annotated[str | None, typer.Option(help="redis://host:port/db for --online redis")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve POST /predict, POST /ingest, GET /model, /health/live, /health/ready and /metrics."""
    from pydantic import ValidationError

    from core.bundle import META_FILE
    from scoring.settings import ScoringSettings

    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "host": host,
            "port": port,
            "model_path": model_path,
            "tracking_uri": tracking_uri,
            "online_store": online,
            "redis_url": redis_url,
        }.items()
        if value is not None
    }
    try:
        settings = ScoringSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        fail(
            f"invalid scoring settings: {where}: {first['msg']}",
            "see `SCORING_*` in the README's scoring section",
        )
    if settings.model_path is not None and not (settings.model_path / META_FILE).is_file():
        fail(
            f"{settings.model_path} is not a model bundle (no {META_FILE})",
            "train one with `predmaint pipeline run` or pass the directory of a registered version",
        )

    import uvicorn

    from scoring.main import create_app

    source = settings.model_path or f"registry {settings.model_name}@champion"
    console.print(f"scoring facade on http://{settings.host}:{settings.port} (model: {source})")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
        workers=1,
    )
