"""The settings fields both services read the same way: where the model comes from, the HTTP edge,
telemetry. Each service's settings class lists this first among its bases, beside
``BaseSettings`` (``class ScoringSettings(ServiceSettings, BaseSettings)``), and adds its prefix
(``SCORING_``, ``DRIFT_``), its port and its own fields.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationInfo, field_validator

from core.bundle import REGISTERED_MODEL_NAME
from core.layout import DataLayout

if TYPE_CHECKING:
    from core.bundle_source import BundleSource

_PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "apikey", "api-key", "xxx", "todo", "none"}
)
MIN_API_KEY_CHARS = 16


def check_secret(value: SecretStr | None, name: str) -> SecretStr | None:
    """An empty secret is none; a placeholder (``changeme``, ``<key>``, ``${VAR}``) is an error."""
    if value is None:
        return None
    raw = value.get_secret_value().strip()
    if not raw:
        return None
    if raw.lower() in _PLACEHOLDER_SECRETS or raw.startswith("<") or "${" in raw:
        raise ValueError(f"{name} looks like a placeholder, not a secret")
    return SecretStr(raw)


class ServiceSettings(BaseModel):
    """Fields of every service; see the module docstring for how a service's class uses them."""

    cache_dir_name: ClassVar[str] = "predmaint-models"
    """Default registry download folder under the temporary directory (read-only root safe)."""

    # --- model source ---------------------------------------------------------------------------
    model_path: Path | None = None
    """A bundle directory to serve; when set, the registry is not consulted."""
    tracking_uri: str | None = None
    """MLflow tracking/registry URI; default ``MLFLOW_TRACKING_URI``, else the local ``DataLayout``
    store (in Azure the AzureML workspace's MLflow URI)."""
    model_name: str = REGISTERED_MODEL_NAME
    model_cache_dir: Path | None = None
    """Where registry versions are downloaded; default ``<tmp>/<cache_dir_name>``."""

    # --- HTTP edge and telemetry ----------------------------------------------------------------
    api_key: SecretStr | None = None
    """When set, every route but health, metrics and the API description needs it in
    ``x-api-key`` or ``Authorization: Bearer`` (at least 16 characters, not a placeholder)."""
    host: str = "127.0.0.1"
    health_port: int | None = Field(default=None, ge=1, le=65535)
    """A port of its own for ``/health/live`` and ``/health/ready``, answered by a thread from state
    in memory (``service.health_listener``): never queued behind the event loop or a dependency, so
    the probes stay fast when the pod is busy. Unset: health is served on the main port only."""
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """Longest a client may take to send a request's line and headers; then the connection is closed
    (408). Slow clients (slow-loris) cannot hold connections open (``service.http_server``)."""
    body_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    """Longest a client may take to send a request's body once its headers are in; then the
    connection is closed."""
    applicationinsights_connection_string: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "APPLICATIONINSIGHTS_CONNECTION_STRING", "applicationinsights_connection_string"
        ),
    )
    """Standard Azure Monitor variable (no prefix): OpenTelemetry export is on only when it is set."""

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        name = f"{cls.model_config.get('env_prefix', '')}{(info.field_name or 'api_key').upper()}"
        checked = check_secret(value, name)
        if checked is not None and len(checked.get_secret_value()) < MIN_API_KEY_CHARS:
            raise ValueError(f"{name} must have at least {MIN_API_KEY_CHARS} characters")
        return checked

    def resolved_tracking_uri(self, layout: DataLayout | None = None) -> str:
        from core.registry import resolve_tracking_uri

        return self.tracking_uri or resolve_tracking_uri(
            (layout or DataLayout.from_env()).mlflow_tracking_uri
        )

    def resolved_cache_dir(self) -> Path:
        return self.model_cache_dir or Path(tempfile.gettempdir()) / self.cache_dir_name

    def model_source(self, layout: DataLayout) -> BundleSource:
        """The bundle directory when ``model_path`` is set, else the registry's champion."""
        from core.bundle_source import PathSource, RegistrySource

        if self.model_path is not None:
            return PathSource(self.model_path)
        return RegistrySource(
            tracking_uri=self.resolved_tracking_uri(layout),
            name=self.model_name,
            cache_dir=self.resolved_cache_dir(),
        )
