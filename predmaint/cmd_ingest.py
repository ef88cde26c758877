"""``predmaint ingest consume``: run an ingest worker (Event Hubs partitions -> Redis and ADLS);
``predmaint ingest machines``: register the fleet's machine types for the workers.

Its settings are the worker image's (``INGEST_*`` environment variables, see
:class:`ingest.settings.IngestSettings`); options override the few a person changes by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ingest.settings import DEFAULT_OFFLINE_CONTAINER
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

    @ingest_app.command("machines")
    def machines(
        registry: Annotated[
            Path, typer.Argument(help="CSV or Parquet with columns machine_id, machine_type", exists=True)
        ],
        account_url: Annotated[
            str,
            typer.Option(envvar="INGEST_OFFLINE_ACCOUNT_URL", help="blob endpoint of the ADLS Gen2 account"),
        ] = "",
        container: Annotated[
            str, typer.Option(envvar="INGEST_OFFLINE_CONTAINER", help="the offline file system")
        ] = DEFAULT_OFFLINE_CONTAINER,
        connection_string: Annotated[
            str | None,
            typer.Option(envvar="INGEST_OFFLINE_CONNECTION_STRING", help="Azurite only (wins over the URL)"),
        ] = None,
    ) -> None:
        """Register the fleet's machine types where the workers and the pipeline read them (the offline
        container's machines.parquet): a machine's peers are the machines of its type, and a machine
        not registered is of type unknown. Workers read it when they claim a partition."""
        import pandas as pd
        from azure.core.exceptions import AzureError

        from features.errors import InvalidMachineRegistry
        from features.relative import machine_types_of
        from ingest.offline_blob import MACHINES_BLOB, BlobOfflineStore
        from ingest.runner import container_client

        if not account_url and not connection_string:
            fail("no storage account", "pass --account-url (or set INGEST_OFFLINE_ACCOUNT_URL)")
        try:
            frame = (
                pd.read_parquet(registry) if registry.suffix in {".parquet", ".pq"} else pd.read_csv(registry)
            )
        except (ValueError, OSError) as exc:
            fail(f"{registry}: not a CSV or Parquet file ({exc})")
        try:
            types = machine_types_of(frame, str(registry))  # refused before any connection is made
        except InvalidMachineRegistry as exc:
            fail(exc.message, exc.hint)
        try:
            BlobOfflineStore(container_client(account_url, container, connection_string)).register_machines(
                types
            )
        except AzureError as exc:
            fail(
                f"cannot write {container}/{MACHINES_BLOB}: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                "az login as an identity with Storage Blob Data Contributor on the file system",
            )
        counts = pd.Series(types).value_counts().sort_index()
        console.print(
            f"[green]registered[/] {len(types):,} machines in {container}/{MACHINES_BLOB}: "
            + ", ".join(f"{n:,} {t}" for t, n in counts.items())
        )
        console.print("workers apply it when they claim a partition: restart them to apply it now")

    app.add_typer(ingest_app, name="ingest")
