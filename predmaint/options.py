"""Options that several ``predmaint`` commands share: one name, one help text, one meaning each.

- ``--data-dir``: every command that reads or writes local state. It is exported as
  ``PREDMAINT_DATA_DIR`` for the rest of the process, so pipeline steps (subprocesses) and the
  services' settings, which read the layout from the environment, see the same directory.
- ``--online`` / ``--redis-url``: the online store. Redis never has a silent default URL: it comes
  from ``--redis-url`` or ``$REDIS_CONNECTION_STRING`` and is printed (without its password).
- ``--model-path`` / ``--tracking-uri``: where ``serve`` and ``drift serve`` get their model.
- ``--format``: how a command that prints a result prints it (``table``, ``json``, ``markdown``).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlparse

import typer

from predmaint.console import console, fail

if TYPE_CHECKING:
    from core.layout import DataLayout

DATA_DIR_HELP = "data directory [default: $PREDMAINT_DATA_DIR or ./.predmaint]"
DataDir = Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)]

ModelPath = Annotated[
    Path | None,
    typer.Option("--model-path", help="use this bundle directory instead of the registry's champion"),
]
TrackingUri = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow registry to watch [default: the data directory's]"),
]

REDIS_ENV = "REDIS_CONNECTION_STRING"


def redis_url_option(env: str) -> Any:
    """``--redis-url``, falling back to the variable ``env`` (``REDIS_CONNECTION_STRING`` for the
    feature store, ``SCORING_REDIS_URL`` for the facade)."""
    return typer.Option(
        "--redis-url", help=f"redis://host:port/db (rediss:// for TLS) for --online redis [default: ${env}]"
    )


RedisUrl = Annotated[str | None, redis_url_option(REDIS_ENV)]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def use_data_dir(data_dir: Path | None) -> DataLayout:
    """The layout of ``--data-dir`` (or the environment's), exported as ``PREDMAINT_DATA_DIR``."""
    from core.layout import DATA_DIR_ENV, DataLayout

    if data_dir is not None:
        os.environ[DATA_DIR_ENV] = str(data_dir.resolve())
    return DataLayout.from_env()


def redacted(url: str) -> str:
    """``url`` without its password, for printing."""
    if "://" not in url:  # Feast's "host:port,password=..." form
        return ",".join(p for p in url.split(",") if not p.startswith("password="))
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    host = parsed.hostname or ""
    netloc = f"{parsed.username or ''}:***@{host}" + (f":{parsed.port}" if parsed.port else "")
    return parsed._replace(netloc=netloc).geturl()


def redis_url_for(online: str, redis_url: str | None, env: str = REDIS_ENV) -> str | None:
    """The Redis URL that ``--online redis`` will use, printed; an exit with a hint when none is set.
    ``None`` for other online stores."""
    if online.lower() != "redis":
        return None
    url = redis_url or os.environ.get(env)
    if not url:
        fail(
            f"--online redis needs --redis-url (or ${env})",
            "e.g. --redis-url redis://127.0.0.1:6379/0",
        )
    console.print(f"online store: redis at {redacted(url)}")
    return url
