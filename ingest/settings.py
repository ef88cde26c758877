"""Settings of an ingest worker: one typed object, read from ``INGEST_*`` environment variables once.

In Azure every connection uses the pod's workload identity (``DefaultAzureCredential``): the Event
Hubs namespace, the checkpoint container and the offline (ADLS Gen2) container are given as
account URLs and names, never as keys. ``*_connection_string`` exist for the Azurite emulator on a
laptop and in tests (its well-known development key is public); they win over the URLs when set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The names Terraform gives these (tests/assets/test_name_contracts.py holds them equal).
DEFAULT_CONSUMER_GROUP: Final = "feature-ingest"
"""The consumer group Terraform creates for the workers (``infra/main.data.tf``)."""
DEFAULT_CHECKPOINT_CONTAINER: Final = "ingest-checkpoints"
"""Terraform's ``local.ingest_checkpoint_container``."""
DEFAULT_OFFLINE_CONTAINER: Final = "offline-features"
"""The ADLS Gen2 file system of the offline day files, Terraform's ``local.offline_features_container``
(the AzureML datastore ``predmaint`` is on it)."""
DEFAULT_HEALTH_PORT: Final = 8081
ONLINE_INTERVAL_S: Final = 0.5
"""How often a worker computes the relative features of the windows changed since the last time
and pushes each machine's newest online (batches in between are coalesced): the freshness bound."""


class IngestSettings(BaseSettings):
    """Everything a worker needs to know about its environment. Built once, passed to the worker."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore", frozen=True)

    # --- Event Hubs -------------------------------------------------------------------------------
    eventhub_namespace: str = ""
    """Fully qualified namespace, ``<name>.servicebus.windows.net``."""
    eventhub_name: str = ""
    consumer_group: str = DEFAULT_CONSUMER_GROUP
    max_batch_size: int = Field(default=2000, ge=1, le=100_000)
    """Events handed to one handler call (the SDK's ``max_batch_size``)."""
    max_wait_s: float = Field(default=1.0, gt=0, le=60)
    """An idle partition's handler is still called this often (so flushes happen on time)."""

    # --- durability ---------------------------------------------------------------------------------
    checkpoint_account_url: str = ""
    """``https://<account>.blob.core.windows.net`` of the checkpoint container."""
    checkpoint_container: str = DEFAULT_CHECKPOINT_CONTAINER
    checkpoint_connection_string: SecretStr | None = None
    offline_account_url: str = ""
    """``https://<account>.blob.core.windows.net`` of the ADLS Gen2 account (its blob endpoint)."""
    offline_container: str = DEFAULT_OFFLINE_CONTAINER
    offline_connection_string: SecretStr | None = None
    flush_interval_s: float = Field(default=10.0, ge=0, le=3600)
    """Changed windows are merged offline, the partition's state saved and its checkpoint moved at
    most this often (0: after every batch). A crash replays at most this much."""

    # --- online store -------------------------------------------------------------------------------
    online_interval_s: float = Field(default=ONLINE_INTERVAL_S, ge=0, le=60)
    """Changed windows get their relative features and go online at most this often (0: after every
    batch); a window is online this long after its batch at most, or at the next handler call when
    the stream goes quiet (at most ``max_wait_s`` later). Flushes publish first, whatever the time."""
    online_store: str = Field(default="redis", pattern="^(redis|none)$")
    redis_url: str | None = None
    """``redis://host:port/db`` (``rediss://`` for TLS); required when ``online_store`` is redis."""
    feast_registry: Path | None = None
    """The applied Feast registry file, only read: the image's, built at image build time, so every
    pod (facade and workers) reads the same one (as ``SCORING_FEAST_REGISTRY``)."""

    # --- health -------------------------------------------------------------------------------------
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=DEFAULT_HEALTH_PORT, ge=1, le=65535)
    stale_after_s: float = Field(default=30.0, gt=0, le=3600)
    """``/health/ready`` fails when no handler call happened for this long."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.online_store == "redis" and not self.redis_url:
            raise ValueError("INGEST_ONLINE_STORE=redis needs INGEST_REDIS_URL")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://")):
            raise ValueError("INGEST_REDIS_URL must start with redis:// or rediss://")
        if not self.checkpoint_account_url and self.checkpoint_connection_string is None:
            raise ValueError("set INGEST_CHECKPOINT_ACCOUNT_URL (or a connection string for Azurite)")
        if not self.offline_account_url and self.offline_connection_string is None:
            raise ValueError("set INGEST_OFFLINE_ACCOUNT_URL (or a connection string for Azurite)")
        if self.feast_registry is not None and not self.feast_registry.is_file():
            raise ValueError(f"INGEST_FEAST_REGISTRY: no registry file at {self.feast_registry}")
        return self
