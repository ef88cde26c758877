"""Settings of the scoring facade: one typed object, read from ``SCORING_*`` environment variables once.

Model source, in order of precedence:

- ``SCORING_MODEL_PATH``: a bundle directory (``core.bundle``); served as is, never swapped.
- otherwise the registry: the champion of ``SCORING_MODEL_NAME`` in the MLflow registry at
  ``SCORING_TRACKING_URI`` (default ``MLFLOW_TRACKING_URI``, else the local ``DataLayout`` MLflow
  store; in Azure the AzureML workspace's MLflow URI), polled every ``SCORING_POLL_INTERVAL_S``
  seconds and swapped atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.bundle import CHAMPION_ALIAS
from core.contract import MAX_CLOCK_SKEW
from core.inference_log import DEFAULT_RETAINED_SEGMENTS, DEFAULT_SEGMENT_BYTES
from core.layout import DataLayout
from service.settings import ServiceSettings, check_secret


class ScoringSettings(ServiceSettings, BaseSettings):
    """Everything the facade needs to know about its environment. Built once, passed to ``create_app``.
    The model source, API key, host and telemetry fields come from ``service.settings``."""

    model_config = SettingsConfigDict(
        env_prefix="SCORING_", extra="ignore", protected_namespaces=(), frozen=True, populate_by_name=True
    )

    # --- model source (model_path, tracking_uri, model_name, model_cache_dir: ServiceSettings) ------
    model_alias: Literal["champion"] = CHAMPION_ALIAS
    """The pointer that is served; only ``champion`` is agreed with the registry (``core.registry``)."""
    poll_interval_s: float = Field(default=10.0, gt=0, le=3600)
    """Seconds between two checks of the champion (and retries after a failed load)."""

    # --- online features --------------------------------------------------------------------------
    online_store: Literal["sqlite", "redis", "none"] = "sqlite"
    """Feast online store of the ``machine_id`` path and ``/ingest``; ``none`` serves inline rows only."""
    redis_url: str | None = None
    """``redis://host:port/db`` (``rediss://`` for TLS); required when ``online_store`` is redis."""
    store_timeout_s: float = Field(default=0.5, gt=0, le=30)
    """Longest a request waits for the online store; also the Redis client's connect and command
    timeouts and the background check's. Beyond it the request answers 503 (``timeout``)."""
    store_max_concurrent: int = Field(default=8, ge=1, le=256)
    """Online store calls in flight at once (own thread pool); more answer 503 ``busy`` at once."""
    store_circuit_open_s: float = Field(default=2.0, gt=0, le=300)
    """After a failed store call, requests answer 503 ``circuit_open`` at once until a background
    check succeeds, or this long at most before one trial call goes through."""
    store_check_interval_s: float = Field(default=1.0, gt=0, le=60)
    """Seconds between background checks of the online store (what readiness reports)."""
    ingest_max_clock_skew_s: float = Field(default=MAX_CLOCK_SKEW.total_seconds(), ge=0, le=366 * 86400)
    """``/ingest`` rejects (422) a batch with a reading dated more than this after the server's clock
    (the demo, whose accelerated clock runs days ahead of the wall clock by design, widens it)."""
    feast_registry: Path | None = None
    """An applied Feast registry file, only read (default: the data layout's own registry). The
    facade image sets it to the registry it applied at build time, the same in every pod."""

    # --- ingest -----------------------------------------------------------------------------------
    ingest_backend: Literal["local", "eventhubs"] = "local"
    """``local``: ``/ingest`` aggregates in this process (the embedded default); ``eventhubs``: it
    validates, publishes to Event Hubs (workload identity) and answers once they accepted; the
    ingest workers aggregate (``ingest/``)."""
    eventhub_namespace: str | None = None
    """``<name>.servicebus.windows.net``; required with ``ingest_backend=eventhubs``."""
    eventhub_name: str | None = None

    # --- inference log ----------------------------------------------------------------------------
    inference_log_dir: Path | None = None
    """Default ``DataLayout.from_env().inference_log_dir``."""
    log_segment_bytes: int = Field(default=DEFAULT_SEGMENT_BYTES, ge=4096)
    log_retained_segments: int = Field(default=DEFAULT_RETAINED_SEGMENTS, ge=1)
    log_queue_size: int = Field(default=10_000, ge=1, le=10_000_000)
    """Requests waiting for the log writer; beyond this, records are dropped and counted."""
    log_enabled: bool = True

    # --- shadow (scoring.shadow) ----------------------------------------------------------------------
    shadow_model_path: Path | None = None
    """A candidate bundle folder that scores every logged request in the shadow, never served. Followed:
    a bundle put there (or replaced) while the facade runs is picked up within the poll interval; an
    empty or missing folder shadows nothing."""
    shadow_log_dir: Path | None = None
    """Default ``<inference log dir>/shadow``."""

    # --- backend ------------------------------------------------------------------------------------
    backend: Literal["onnx", "aml-endpoint"] = "onnx"
    endpoint_url: str | None = None
    """Scoring URI of the AzureML online endpoint (``https://<name>.<region>.inference.ml.azure.com/score``)."""
    endpoint_key: SecretStr | None = None
    """Endpoint key (``auth_mode: key``)."""
    endpoint_token: SecretStr | None = None
    """AzureML token (``auth_mode: aml_token``); used when no key is set."""
    endpoint_deployment: str | None = None
    """Pin a deployment (``azureml-model-deployment`` header), e.g. ``green`` during a blue/green test."""
    endpoint_timeout_s: float = Field(default=2.0, gt=0, le=300)
    endpoint_request_timeout_ms: int = Field(default=3000, ge=100, le=300_000)
    """The deployment's ``request_settings.request_timeout_ms``; our timeout must stay below it."""

    # --- HTTP edge (api_key, host, applicationinsights_connection_string: ServiceSettings) --------
    port: int = Field(default=8000, ge=1, le=65535)

    @field_validator("endpoint_key", "endpoint_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        return check_secret(value, f"SCORING_{(info.field_name or 'secret').upper()}")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("SCORING_REDIS_URL must start with redis:// or rediss://")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("SCORING_ENDPOINT_URL must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.online_store == "redis" and not self.redis_url:
            raise ValueError("SCORING_ONLINE_STORE=redis needs SCORING_REDIS_URL")
        if self.backend == "aml-endpoint":
            if not self.endpoint_url:
                raise ValueError("SCORING_BACKEND=aml-endpoint needs SCORING_ENDPOINT_URL")
            if self.endpoint_key is None and self.endpoint_token is None:
                raise ValueError(
                    "SCORING_BACKEND=aml-endpoint needs SCORING_ENDPOINT_KEY or SCORING_ENDPOINT_TOKEN"
                )
            if self.endpoint_timeout_s * 1000 >= self.endpoint_request_timeout_ms:
                raise ValueError(
                    "SCORING_ENDPOINT_TIMEOUT_S must be below the endpoint's request_timeout_ms "
                    f"({self.endpoint_request_timeout_ms} ms), or the endpoint answers 408 after we gave up"
                )
        if self.ingest_backend == "eventhubs" and not (self.eventhub_namespace and self.eventhub_name):
            raise ValueError(
                "SCORING_INGEST_BACKEND=eventhubs needs SCORING_EVENTHUB_NAMESPACE and SCORING_EVENTHUB_NAME"
            )
        if self.feast_registry is not None and not self.feast_registry.is_file():
            raise ValueError(f"SCORING_FEAST_REGISTRY: no registry file at {self.feast_registry}")
        if self.model_path is not None and self.model_path.exists() and not self.model_path.is_dir():
            raise ValueError("SCORING_MODEL_PATH must be a bundle directory")
        return self

    # --- derived ------------------------------------------------------------------------------------

    def resolved_log_dir(self, layout: DataLayout | None = None) -> Path:
        return self.inference_log_dir or (layout or DataLayout.from_env()).inference_log_dir
