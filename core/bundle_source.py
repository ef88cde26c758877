"""Where a serving model's bundle comes from: one directory, or the registry's ``champion`` alias.

The scoring facade loads its model from a source and the drift sidecar its reference sample; both
poll ``current_version()`` (cheap) and call ``fetch()`` only when the version changes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core.bundle import CHAMPION_ALIAS, Bundle, load_bundle


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
    """The ``champion`` alias in an MLflow registry (local SQLite or the AzureML workspace)."""

    tracking_uri: str
    name: str
    cache_dir: Path
    watchable: bool = True

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
