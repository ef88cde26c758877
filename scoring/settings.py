"""Settings of the scoring facade: one typed object, read from ``SCORING_*`` environment variables once.

Model source, in order of precedence:

- ``SCORING_MODEL_PATH``: a bundle directory (``core.bundle``); served as is, never swapped.
- otherwise the registry: the champion of ``SCORING_MODEL_NAME`` in the MLflow registry at
  ``SCORING_TRACKING_URI`` (default: the local ``DataLayout`` MLflow store; in Azure the AzureML
  workspace's MLflow URI), polled every ``SCORING_POLL_INTERVAL_S`` seconds and swapped atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.bundle import CHAMPION_ALIAS, REGISTERED_MODEL_NAME
from core.inference_log import DEFAULT_RETAINED_SEGMENTS, DEFAULT_SEGMENT_BYTES
from core.layout import DataLayout

_PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "apikey", "api-key", "xxx", "todo", "none"}
)
MIN_API_KEY_CHARS = 16


def _check_secret(value: SecretStr | None, name: str) -> SecretStr | None:
    if value is None:
        return None
    raw = value.get_secret_value().strip()
    if not raw:
        return None
    if raw.lower() in _PLACEHOLDER_SECRETS or raw.startswith("<") or "${" in raw:
        raise ValueError(f"{name} looks like a placeholder, not a secret")
    return SecretStr(raw)


class ScoringSettings(BaseSettings):
    """Everything the facade needs to know about its environment. Built once, passed to ``create_app``."""

    model_config = SettingsConfigDict(
        env_prefix="SCORING_", extra="ignore", protected_namespaces=(), frozen=True, populate_by_name=True
    )

    # --- model source ---------------------------------------------------------------------------
    model_path: Path | None = None
    """A bundle directory to serve; when set, the registry is not consulted."""
    tracking_uri: str | None = None
    """MLflow tracking/registry URI; default: ``DataLayout.from_env().mlflow_tracking_uri``."""
    model_name: str = REGISTERED_MODEL_NAME
    model_alias: Literal["champion"] = CHAMPION_ALIAS
    """The pointer that is served; only ``champion`` is agreed with the registry (``core.registry``)."""
    poll_interval_s: float = Field(default=10.0, gt=0, le=3600)
    """Seconds between two checks of the champion (and retries after a failed load)."""
    model_cache_dir: Path | None = None
    """Where registry versions are downloaded; default ``<tmp>/predmaint-models`` (read-only root safe)."""

    # --- online features --------------------------------------------------------------------------
    online_store: Literal["sqlite", "redis", "none"] = "sqlite"
    """Feast online store of the ``machine_id`` path and ``/ingest``; ``none`` serves inline rows only."""
    redis_url: str | None = None
    """``redis://host:port/db`` (``rediss://`` for TLS); required when ``online_store`` is redis."""
    store_timeout_s: float = Field(default=0.5, gt=0, le=30)
    """Connect/read timeout of the readiness probe of the online store."""
    feast_registry: Path | None = None
    """An applied Feast registry file, only read (default: the data layout's own registry). The
    facade image sets it to the registry it applied at build time, the same in every pod."""

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
    """A candidate bundle that scores every logged request in the shadow, never served."""
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

    # --- HTTP edge ------------------------------------------------------------------------------------
    api_key: SecretStr | None = None
    """When set, /predict, /ingest and /model need it in ``x-api-key`` or ``Authorization: Bearer``."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    applicationinsights_connection_string: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "APPLICATIONINSIGHTS_CONNECTION_STRING", "applicationinsights_connection_string"
        ),
    )
    """Standard Azure Monitor variable (no prefix): OpenTelemetry export is on only when it is set."""

    @field_validator("api_key", "endpoint_key", "endpoint_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        name = info.field_name or "secret"
        checked = _check_secret(value, f"SCORING_{name.upper()}")
        if name == "api_key" and checked is not None and len(checked.get_secret_value()) < MIN_API_KEY_CHARS:
            raise ValueError(f"SCORING_API_KEY must have at least {MIN_API_KEY_CHARS} characters")
        return checked

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
        if self.feast_registry is not None and not self.feast_registry.is_file():
            raise ValueError(f"SCORING_FEAST_REGISTRY: no registry file at {self.feast_registry}")
        if self.model_path is not None and self.model_path.exists() and not self.model_path.is_dir():
            raise ValueError("SCORING_MODEL_PATH must be a bundle directory")
        return self

    # --- derived ------------------------------------------------------------------------------------

    def resolved_tracking_uri(self, layout: DataLayout | None = None) -> str:
        return self.tracking_uri or (layout or DataLayout.from_env()).mlflow_tracking_uri

    def resolved_log_dir(self, layout: DataLayout | None = None) -> Path:
        return self.inference_log_dir or (layout or DataLayout.from_env()).inference_log_dir

    def resolved_cache_dir(self) -> Path:
        import tempfile

        return self.model_cache_dir or Path(tempfile.gettempdir()) / "predmaint-models"
