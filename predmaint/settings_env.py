"""A service's environment built from its settings class: the variable names come from the class
(pydantic-settings ``env_prefix`` + field name), so a renamed or removed setting fails here, where the
environment is written, instead of being silently ignored by the service (``extra="ignore"``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings


class UnknownSetting(KeyError):
    """A value was given for a field the settings class does not have."""


def env_name(settings_cls: type[BaseSettings], field: str) -> str:
    """The environment variable ``settings_cls`` reads ``field`` from."""
    if field not in settings_cls.model_fields:
        raise UnknownSetting(f"{settings_cls.__name__} has no setting {field!r}")
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    return f"{prefix}{field}".upper()


def env_text(value: object) -> str:
    """A value as the settings class parses it back from the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def settings_env(settings_cls: type[BaseSettings], **values: object) -> dict[str, str]:
    """``{ENV_NAME: text}`` for every field given; ``None`` values are left out (the default holds).

    Raises :class:`UnknownSetting` for a name that is not a field of ``settings_cls``."""
    return {env_name(settings_cls, k): env_text(v) for k, v in values.items() if v is not None}
