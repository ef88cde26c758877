"""Where a serving model's bundle comes from: one directory, or the registry's champion.

The scoring facade loads its model from a source and the drift sidecar its reference sample; both
poll ``current_version()`` (cheap) and call ``fetch()`` only when the version changes, and report
the last poll's :data:`SourceState` in readiness (:func:`state_of`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from core.bundle import CHAMPION_ALIAS, Bundle, load_bundle

SourceState = Literal["not_checked", "ok", "no_champion", "unreachable", "misconfigured", "error"]
"""What the last poll of a source found: ``no_champion`` (the registry answered; nothing to serve
yet, normal before the first promotion), ``unreachable`` (network, timeout, server error: may heal),
``misconfigured`` (URI scheme, plugin, credential: a person must act), ``error`` (anything else,
e.g. a bundle that does not load)."""


def state_of(exc: Exception) -> SourceState:
    """The state a failed poll or fetch leaves a source in (``core.registry`` errors carry a kind)."""
    kind = getattr(exc, "kind", "error")
    if kind == "unreachable":
        return "unreachable"
    if kind == "misconfigured":
        return "misconfigured"
    return "error"


def no_champion_reason(source: BundleSource) -> str:
    return f"no champion yet: {source.description} answered and no version is promoted"


class BundleSource(Protocol):
    @property
    def description(self) -> str: ...

    @property
    def watchable(self) -> bool:
        """Whether the served version can change (worth polling)."""
        ...

    def current_version(self) -> str | None:
        """The version that should be served now (None: nothing to serve)."""
        ...

    def fetch(self, version: str) -> tuple[Bundle, str | None]:
        """The bundle of ``version`` and its registry version (None when not from a registry)."""
        ...


@dataclass
class PathSource:
    """One bundle directory, loaded once."""

    directory: Path
    watchable: bool = False

    @property
    def description(self) -> str:
        return f"path:{self.directory}"

    def current_version(self) -> str | None:
        return "path"

    def fetch(self, version: str) -> tuple[Bundle, str | None]:
        return load_bundle(self.directory), None


@dataclass
class RegistrySource:
    """The champion of an MLflow registry (local SQLite or the AzureML workspace): the version
    whose champion tag (``core.bundle.CHAMPION_TAG``) is highest (see ``core.registry``)."""

    tracking_uri: str
    name: str
    cache_dir: Path
    watchable: bool = True

    def __post_init__(self) -> None:
        from core.registry import bound_poll_http

        bound_poll_http()  # this process polls: fail a poll in seconds (values set by the operator win)

    @property
    def description(self) -> str:
        return f"registry:{self.name}@{CHAMPION_ALIAS}"

    def current_version(self) -> str | None:
        from core.registry import champion_version

        return champion_version(self.tracking_uri, name=self.name)

    def fetch(self, version: str) -> tuple[Bundle, str | None]:
        from core.registry import download_version

        dst = self.cache_dir / f"{self.name}-{version}"
        if dst.exists():
            shutil.rmtree(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        return download_version(self.tracking_uri, version, dst, name=self.name), version
