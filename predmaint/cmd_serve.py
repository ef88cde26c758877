"""``predmaint serve``: the scoring facade (``scoring.main``) under uvicorn, one worker, with the
read deadlines of ``service.http_server``.

Options override the ``SCORING_*`` environment (see ``scoring.settings``); nothing heavy is imported
until the command runs.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from predmaint.console import console, fail
from predmaint.options import DataDir, ModelPath, TrackingUri, redacted, redis_url_option, use_data_dir


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str | None, typer.Option(help="bind address [default: SCORING_HOST or 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port [default: SCORING_PORT or 8000]")] = None,
    model_path: ModelPath = None,
    tracking_uri: TrackingUri = None,
    online: Annotated[
        str | None,
        typer.Option(help="online store: sqlite, redis or none [default: SCORING_ONLINE_STORE or sqlite]"),
    ] = None,
    redis_url: Annotated[str | None, redis_url_option("SCORING_REDIS_URL")] = None,
    data_dir: DataDir = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve POST /predict, POST /ingest, GET /model, /health/live, /health/ready and /metrics.

    --online redis without --redis-url or SCORING_REDIS_URL is refused."""
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
    layout = use_data_dir(data_dir)
    try:
        settings = ScoringSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        fail(
            f"invalid scoring settings: {where}: {first['msg']}",
            "see `SCORING_*` in docs/scoring.md",
        )
    if settings.model_path is not None and not (settings.model_path / META_FILE).is_file():
        fail(
            f"{settings.model_path} is not a model bundle (no {META_FILE})",
            "train one with `predmaint pipeline run` or pass the directory of a registered version",
        )

    from scoring.main import create_app
    from service.http_server import serve as serve_app

    source = settings.model_path or f"registry {settings.model_name}@champion"
    store: str = settings.online_store
    if store == "redis" and settings.redis_url is not None:
        store = f"redis at {redacted(settings.redis_url)}"
    console.print(
        f"scoring facade on http://{settings.host}:{settings.port} (model: {source}; online store: "
        f"{store}; data directory: {layout.root})"
    )
    serve_app(create_app(settings), settings, log_level)
