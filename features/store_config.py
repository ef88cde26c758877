"""Configuration of the Feast store: the YAML files, placeholders filled from the data layout, and
the Redis online store's connection string (URL form, timeouts) and start hint.

:mod:`features.store` re-exports these names; :func:`features.store.open_store` uses them.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import unquote, urlparse

from core.layout import DATA_DIR_ENV, DataLayout

if TYPE_CHECKING:
    from feast.repo_config import RepoConfig

OnlineKind = Literal["sqlite", "redis"]
DEFAULT_CONFIG: Final = Path(__file__).with_name("feature_store.yaml")
AZURE_CONFIG: Final = Path(__file__).with_name("feature_store.azure.yaml")
REDIS_CONNECTION_ENV: Final = "REDIS_CONNECTION_STRING"
DEFAULT_REDIS_PORT: Final = 6379
DEFAULT_REDIS_URL: Final = f"redis://127.0.0.1:{DEFAULT_REDIS_PORT}/0"

REDIS_TIMEOUT_KEYS: Final = ("socket_timeout", "socket_connect_timeout")


def start_redis_hint(port: int = DEFAULT_REDIS_PORT) -> str:
    """How to start a throw-away Redis on loopback (nothing kept on disk): the one hint everywhere."""
    return (
        f"start Redis with: redis-server --daemonize yes --bind 127.0.0.1 --port {port} --save '' "
        "--appendonly no (Debian/Ubuntu: apt-get install redis-server)"
    )


START_REDIS_HINT: Final = start_redis_hint() + ", or use --online sqlite"


def redis_connection_string(url: str) -> str:
    """Turn ``redis://[:password@]host:port/db`` (``rediss://`` for TLS) into Feast's connection
    string ``host:port,db=N[,password=...][,ssl=true]``. A string that is not a URL is taken to be in
    Feast's format already (as ``REDIS_CONNECTION_STRING`` on Azure is) and returned unchanged."""
    if "://" not in url:
        return url
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        raise ValueError(f"not a redis URL: {url!r}")
    parts = [f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"]
    db = parsed.path.lstrip("/")
    if db:
        parts.append(f"db={int(db)}")
    if parsed.password:
        parts.append(f"password={unquote(parsed.password)}")
    if parsed.username and parsed.username != "default":
        parts.append(f"username={unquote(parsed.username)}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def with_redis_timeouts(connection_string: str, timeout_s: float) -> str:
    """Feast's connection string with ``socket_timeout`` and ``socket_connect_timeout`` (seconds)
    added where it does not set them: without them a hung Redis holds a read forever. Feast hands
    every ``key=value`` of the string to ``redis.Redis`` (JSON-decoded)."""
    keys = {part.split("=", 1)[0].strip() for part in connection_string.split(",") if "=" in part}
    extra = [f"{key}={timeout_s:g}" for key in REDIS_TIMEOUT_KEYS if key not in keys]
    return ",".join([connection_string, *extra])


def load_config_dict(layout: DataLayout, config_path: Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """The YAML with ``${PREDMAINT_DATA_DIR}`` set to ``layout.root`` and other placeholders from the
    environment (unset ones stay as written, as with ``os.path.expandvars``)."""
    import yaml

    text = config_path.read_text()
    values = {**os.environ, DATA_DIR_ENV: str(layout.root)}
    loaded = yaml.safe_load(string.Template(text).safe_substitute(values))
    if not isinstance(loaded, dict):
        raise ValueError(f"{config_path} is not a feature_store.yaml mapping")
    return loaded


def build_repo_config(
    layout: DataLayout,
    online: OnlineKind = "sqlite",
    redis_url: str | None = None,
    *,
    config_path: Path = DEFAULT_CONFIG,
    registry_path: Path | None = None,
    redis_timeout_s: float | None = None,
) -> RepoConfig:
    """The Feast ``RepoConfig`` for a data layout. ``online="redis"`` replaces the YAML's online store
    with Redis at ``redis_url`` (default: ``$REDIS_CONNECTION_STRING``, else local Redis DB 0).
    ``registry_path`` replaces the layout's registry file with an applied one that is only read
    (the facade image's, see :mod:`features.applied_registry`). ``redis_timeout_s`` sets the Redis
    client's connect and command (socket) timeouts, unless the connection string sets them."""
    from feast.repo_config import RepoConfig

    raw = load_config_dict(layout, config_path)
    if registry_path is not None:
        raw["registry"] = {**raw["registry"], "path": str(registry_path)}
    if online == "redis":
        url = redis_url or os.environ.get(REDIS_CONNECTION_ENV) or DEFAULT_REDIS_URL
        current = raw.get("online_store") or {}
        keep = {
            k: v for k, v in current.items() if current.get("type") == "redis" and k != "connection_string"
        }
        connection = redis_connection_string(url)
        if redis_timeout_s is not None:
            connection = with_redis_timeouts(connection, redis_timeout_s)
        raw["online_store"] = {**keep, "type": "redis", "connection_string": connection}
    elif online != "sqlite":
        raise ValueError(f"unknown online store {online!r}: use sqlite or redis")
    config = RepoConfig(**raw)
    config.repo_path = layout.root
    return config
