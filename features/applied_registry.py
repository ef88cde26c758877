"""Build an applied Feast registry file from :mod:`features.definitions`, with no server.

The facade image runs this at build time (``RUN python -m features.applied_registry <path>``) and
reads the file read-only at run time (``SCORING_FEAST_REGISTRY``): every pod then serves the same,
applied registry, instead of an empty one of its own in its scratch directory (which answered 409
``store_not_applied`` to ``machine_id`` scoring).

The apply runs against a throwaway SQLite online store and Feast's file offline store. The
registry's objects (entity, sources, view, service) depend on neither, and Feast's Redis store needs
no tables, so the same file serves Redis in Azure. (The facade image carries no DuckDB: it never
reads offline features through Feast, and Feast builds the configured offline store in ``apply``.)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from core.layout import DataLayout
from features.store import apply, load_config_dict


def build_registry(target: Path) -> list[str]:
    """Write the applied registry to ``target``; returns the names of the applied objects."""
    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    with tempfile.TemporaryDirectory(prefix="predmaint-feast-apply-") as scratch:
        layout = DataLayout(Path(scratch))
        layout.feast_dir.mkdir(parents=True)
        raw = load_config_dict(layout)
        raw["offline_store"] = {"type": "file"}
        config = RepoConfig(**raw)
        config.repo_path = layout.root
        store = FeatureStore(repo_path=str(layout.root), config=config)
        names = apply(store)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(str(store.config.registry.path)), target)
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write an applied Feast registry file.")
    parser.add_argument("target", type=Path, help="registry file to write, e.g. /app/feast/registry.db")
    args = parser.parse_args(argv)
    names = build_registry(args.target)
    print(f"applied {', '.join(names)} to {args.target}")


if __name__ == "__main__":
    main()
