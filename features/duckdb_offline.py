"""Feast's DuckDB offline store, reading the windows directory the way the file store does.

``feature_store.yaml`` names :class:`RepoDuckDBOfflineStore` as its offline store. It is Feast
0.67's ``DuckDBOfflineStore`` (``offline_store: type: duckdb``): the same ibis point-in-time join
(newest row at or before each entity row's time and within the view's TTL, ties broken by the newest
``created_timestamp``), the same retrieval jobs, only the way a ``FileSource`` is opened differs.
The stock reader opens ``FileSource.path`` as given, so a relative path resolves against the
process's working directory instead of the repo path, and a directory without a ``.parquet`` suffix
and without an explicit ``file_format`` is not read at all. The relative path and the directory are
how :mod:`features.definitions` and :mod:`features.store` lay the offline store out, so this reader
resolves the path against the repo path (the data directory, as Feast's file store does) and reads
a directory as its ``*.parquet`` files, skipping dot names (a merge's temporary files, the lock).
Every other source goes to the stock reader.

Why DuckDB: the file store's dask join took ~70-140 s for 36k entity rows of 50 machines x 30
days (and opening a store imported dask, ~8 s); this one takes ~2-4 s.

Opening a store only builds the config class below (no ibis, no duckdb); the store class, and with it
ibis and duckdb (~2 s to import), loads on first offline use, when Feast asks this module for it. So
the facade and the ingest path, which use only the online store, neither pay for nor need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

from feast.repo_config import FeastConfigBaseModel
from pydantic import StrictStr

if TYPE_CHECKING:
    from feast.data_source import DataSource
    from ibis.expr.types import Table

STORE_TYPE: Final = f"{__name__}.RepoDuckDBOfflineStore"
"""The ``offline_store.type`` value that selects this store in ``feature_store.yaml``."""
_PARQUET: Final = ".parquet"


def parquet_files(directory: Path) -> list[str]:
    """The ``*.parquet`` files of a directory, sorted, without dot names."""
    return sorted(str(p) for p in directory.iterdir() if p.suffix == _PARQUET and not p.name.startswith("."))


def read_source(data_source: DataSource, repo_path: str) -> Table:
    """Open a source as an ibis table: a local parquet ``FileSource`` (file or directory) with its
    path resolved against ``repo_path``; anything else through Feast's own DuckDB reader. Raises
    ``FileNotFoundError`` for a directory without parquet files."""
    import ibis
    from feast.data_format import ParquetFormat
    from feast.infra.offline_stores import duckdb as feast_duckdb
    from feast.infra.offline_stores.file_source import FileSource

    if isinstance(data_source, FileSource) and (
        data_source.file_format is None or isinstance(data_source.file_format, ParquetFormat)
    ):
        uri = FileSource.get_uri_for_file_path(repo_path or None, data_source.path)
        if len(urlparse(uri).scheme) <= 1:  # a local path (no scheme, or a drive letter)
            path = Path(uri)
            if path.is_dir():
                files = parquet_files(path)
                if not files:
                    raise FileNotFoundError(f"no parquet files in {path}")
                return ibis.read_parquet(files)
            if path.suffix == _PARQUET:
                return ibis.read_parquet(str(path))
    return feast_duckdb._read_data_source(data_source, repo_path)


class RepoDuckDBOfflineStoreConfig(FeastConfigBaseModel):
    """The settings of Feast's ``duckdb`` offline store (``DuckDBOfflineStoreConfig``)."""

    type: StrictStr = STORE_TYPE
    staging_location: str | None = None
    staging_location_endpoint_override: str | None = None


def _store_class() -> type:
    """Build :class:`RepoDuckDBOfflineStore` (imports ibis and duckdb)."""
    from datetime import datetime

    import pandas as pd
    from feast.feature_view import FeatureView
    from feast.infra.offline_stores import duckdb as feast_duckdb
    from feast.infra.offline_stores.ibis import (
        get_historical_features_ibis,
        pull_all_from_table_or_query_ibis,
        pull_latest_from_table_or_query_ibis,
    )
    from feast.infra.offline_stores.offline_store import RetrievalJob
    from feast.infra.registry.base_registry import BaseRegistry
    from feast.repo_config import RepoConfig

    def staging(config: RepoConfig) -> dict[str, Any]:
        offline: Any = config.offline_store
        return {
            "staging_location": offline.staging_location,
            "staging_location_endpoint_override": offline.staging_location_endpoint_override,
            "data_source_writer": feast_duckdb._write_data_source,
        }

    class RepoDuckDBOfflineStore(feast_duckdb.DuckDBOfflineStore):
        """Feast's DuckDB offline store with :func:`read_source` as its reader (reads only; writes,
        logging and monitoring are Feast's own)."""

        @staticmethod
        def pull_latest_from_table_or_query(
            config: RepoConfig,
            data_source: DataSource,
            join_key_columns: list[str],
            feature_name_columns: list[str],
            timestamp_field: str,
            created_timestamp_column: str | None,
            start_date: datetime,
            end_date: datetime,
        ) -> RetrievalJob:
            return pull_latest_from_table_or_query_ibis(
                config=config,
                data_source=data_source,
                join_key_columns=join_key_columns,
                feature_name_columns=feature_name_columns,
                timestamp_field=timestamp_field,
                created_timestamp_column=created_timestamp_column,
                start_date=start_date,
                end_date=end_date,
                data_source_reader=read_source,
                **staging(config),
            )

        @staticmethod
        def get_historical_features(  # type: ignore[override]  # DuckDBOfflineStore's own signature
            config: RepoConfig,
            feature_views: list[FeatureView],
            feature_refs: list[str],
            entity_df: pd.DataFrame | str,
            registry: BaseRegistry,
            project: str,
            full_feature_names: bool = False,
            filter_by_created_timestamp: bool = False,
        ) -> RetrievalJob:
            return get_historical_features_ibis(
                config=config,
                feature_views=feature_views,
                feature_refs=feature_refs,
                entity_df=entity_df,
                registry=registry,
                project=project,
                full_feature_names=full_feature_names,
                data_source_reader=read_source,
                filter_by_created_timestamp=filter_by_created_timestamp,
                **staging(config),
            )

        @staticmethod
        def pull_all_from_table_or_query(
            config: RepoConfig,
            data_source: DataSource,
            join_key_columns: list[str],
            feature_name_columns: list[str],
            timestamp_field: str,
            created_timestamp_column: str | None = None,
            start_date: datetime | None = None,
            end_date: datetime | None = None,
        ) -> RetrievalJob:
            return pull_all_from_table_or_query_ibis(
                config=config,
                data_source=data_source,
                join_key_columns=join_key_columns,
                feature_name_columns=feature_name_columns,
                timestamp_field=timestamp_field,
                created_timestamp_column=created_timestamp_column,
                start_date=start_date,
                end_date=end_date,
                data_source_reader=read_source,
                **staging(config),
            )

    RepoDuckDBOfflineStore.__module__ = __name__
    RepoDuckDBOfflineStore.__qualname__ = "RepoDuckDBOfflineStore"
    return RepoDuckDBOfflineStore


def __getattr__(name: str) -> Any:
    """``RepoDuckDBOfflineStore``, built on first access (Feast looks it up by name here)."""
    if name == "RepoDuckDBOfflineStore":
        cls = _store_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
