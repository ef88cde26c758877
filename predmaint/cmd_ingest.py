"""``predmaint ingest consume``: run an ingest worker (Event Hubs partitions -> Redis and ADLS).

Its settings are the worker image's (``INGEST_*`` environment variables, see
:class:`ingest.settings.IngestSettings`); options override the few a person changes by hand.
"""

from __future__ import annotations

from typing import Annotated

import typer

from predmaint.console import console, fail


def register(app: typer.Typer) -> None:
    ingest_app = typer.Typer(help="Ingest workers: Event Hubs in, hourly windows out.", no_args_is_help=True)

    @ingest_app.command("consume")
    def consume(
        health_port: Annotated[
            int | None,
            typer.Option(help="port of /health/live and /health/ready [default: $INGEST_HEALTH_PORT, 8081]"),
        ] = None,
        flush_interval_s: Annotated[
            float | None,
            typer.Option(
                help="seconds between durable flushes (offline, snapshot, checkpoint) [default: 10]", min=0
            ),
        ] = None,
    ) -> None:
        """Own Event Hubs partitions (shared with every worker of the consumer group) until SIGTERM."""
        from pydantic import ValidationError

        from core.layout import DataLayout
        from ingest.runner import build_worker, checkpoint_store, consume, consumer_client
        from ingest.settings import IngestSettings

        overrides = {
            k: v
            for k, v in {"health_port": health_port, "flush_interval_s": flush_interval_s}.items()
            if v is not None
        }
        try:
            settings = IngestSettings(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            fail(
                f"ingest settings: {exc.errors()[0]['msg']}",
                "set the INGEST_* variables (see ingest/settings.py)",
            )
        worker, _ = build_worker(settings, DataLayout.from_env())
        client = consumer_client(settings, checkpoint_store(settings))
        console.print(
            f"consuming {settings.eventhub_namespace}/{settings.eventhub_name} ({settings.consumer_group}); "
            f"health on {settings.health_host}:{settings.health_port}"
        )
        try:
            consume(settings, worker, client)
        except KeyboardInterrupt:
            client.close()

    app.add_typer(ingest_app, name="ingest")
