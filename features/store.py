"""The Feast feature store: open, apply, write offline, materialise, read online and historically.

Configuration comes from ``features/feature_store.yaml`` (embedded default) or
``features/feature_store.azure.yaml`` (Redis on Azure Cache for Redis). :func:`open_store` loads the
YAML in code: it fills ``${PREDMAINT_DATA_DIR}`` from the :class:`DataLayout` (other ``${VAR}``
placeholders from the environment, as Feast itself would), swaps the online store for Redis when
asked, and sets Feast's repo path to the data directory, which is where the relative ``FileSource``
path of :mod:`features.definitions` resolves.

The offline day files (layout, merge rule, lock) are :mod:`features.offline`; they are re-exported
here for the callers that read the store as one module.

Feast is imported inside functions only: ``predmaint --help`` and the facade's start stay quick.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np
import pandas as pd

from core.contract import (
    BASELINE_DAYS_FEATURE,
    BASELINE_IS_COLD,
    CREATED_TIMESTAMP,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEATURE_TTL,
    FEATURE_VIEW,
    IS_SPARSE,
    MODEL_FEATURES,
    PUSH_SOURCE,
    READING_COUNT,
    VIEW_FEATURES,
)
from core.layout import DataLayout
from features.aggregate import WINDOW_COLUMNS
from features.errors import NoOfflineData, OnlineStoreUnavailable, StoreNotApplied
from features.offline import DAY_FILE as DAY_FILE
from features.offline import DAY_PART_FILE as DAY_PART_FILE
from features.offline import day_names as day_names
from features.offline import day_of_file as day_of_file
from features.offline import latest_revisions as latest_revisions
from features.offline import offline_files as offline_files
from features.offline import offline_schema as offline_schema
from features.offline import read_offline as read_offline
from features.offline import write_offline as write_offline
from features.store_config import AZURE_CONFIG as AZURE_CONFIG
from features.store_config import DEFAULT_CONFIG as DEFAULT_CONFIG
from features.store_config import DEFAULT_REDIS_PORT as DEFAULT_REDIS_PORT
from features.store_config import DEFAULT_REDIS_URL as DEFAULT_REDIS_URL
from features.store_config import REDIS_CONNECTION_ENV as REDIS_CONNECTION_ENV
from features.store_config import REDIS_TIMEOUT_KEYS as REDIS_TIMEOUT_KEYS
from features.store_config import START_REDIS_HINT as START_REDIS_HINT
from features.store_config import OnlineKind as OnlineKind
from features.store_config import build_repo_config as build_repo_config
from features.store_config import load_config_dict as load_config_dict
from features.store_config import redis_connection_string as redis_connection_string
from features.store_config import start_redis_hint as start_redis_hint
from features.store_config import with_redis_timeouts as with_redis_timeouts

if TYPE_CHECKING:
    from feast import FeatureStore

FEATURE_REFS: Final[tuple[str, ...]] = tuple(f"{FEATURE_VIEW}:{name}" for name in VIEW_FEATURES)
"""Feast feature references of every view feature (``sensor_stats_view:<name>``)."""
_ENTITY_ROW: Final = "_predmaint_entity_row"
"""Row number column :func:`historical_features` adds to the entity frame it hands Feast."""


def open_store(
    layout: DataLayout,
    online: OnlineKind = "sqlite",
    redis_url: str | None = None,
    *,
    config_path: Path = DEFAULT_CONFIG,
    registry_path: Path | None = None,
    redis_timeout_s: float | None = None,
) -> FeatureStore:
    """Open the feature store of a data layout (creates the Feast directory, nothing else);
    ``registry_path`` and ``redis_timeout_s`` as in :func:`build_repo_config`. With
    ``redis_timeout_s`` the Redis client also gives up after the first failed attempt (see
    :func:`_no_redis_retries`)."""
    from feast import FeatureStore

    layout.feast_dir.mkdir(parents=True, exist_ok=True)
    config = build_repo_config(
        layout,
        online,
        redis_url,
        config_path=config_path,
        registry_path=registry_path,
        redis_timeout_s=redis_timeout_s,
    )
    store = FeatureStore(repo_path=str(layout.root), config=config)
    _tune_sqlite(store)
    if redis_timeout_s is not None:
        _no_redis_retries(store)
    return store


def _no_redis_retries(store: FeatureStore) -> None:
    """Make the Feast Redis client fail after one attempt. redis-py's default retries three times
    with exponential back-off (up to 10 s each), so one read of an unreachable Redis took up to
    9.3 s; the caller (the facade's circuit, :mod:`scoring.store_guard`) decides when to try again.
    Reaches into Feast's provider; skipped if Feast changes it."""
    if getattr(store.config.online_store, "type", None) != "redis":
        return
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        online = store._get_provider().online_store
        client = online._get_client(store.config.online_store)  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a Feast upgrade moved it; timeouts still apply
        return
    client.set_retry(Retry(NoBackoff(), 0))


def _tune_sqlite(store: FeatureStore) -> None:
    """Put the SQLite online store in WAL mode with ``synchronous=NORMAL``: one write per push
    instead of several fsyncs (a push went from ~30 ms to ~1 ms of commit). The online store is a
    cache that ``materialize`` rebuilds from the offline store, so losing the last commits on a
    power cut is acceptable. Reaches into Feast's connection; skipped if Feast changes it."""
    if getattr(store.config.online_store, "type", None) != "sqlite":
        return
    try:
        conn = store._get_provider().online_store._get_conn(store.config)  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a Feast upgrade moved it; defaults still work
        return
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")


def layout_of(store: FeatureStore) -> DataLayout:
    """The data layout a store was opened on (its repo path)."""
    return DataLayout(Path(store.config.repo_path or store.repo_path))


def apply(store: FeatureStore) -> list[str]:
    """Register the objects of :mod:`features.definitions` and create the online tables.
    Idempotent. Returns the names applied."""
    from features import definitions

    objects = definitions.OBJECTS
    store.apply(cast(list[Any], objects))
    _PUSH_VIEWS.pop(store, None)
    return [obj.name for obj in objects]


def _require_view(store: FeatureStore) -> Any:
    from feast.errors import FeatureViewNotFoundException

    try:
        return store.get_feature_view(FEATURE_VIEW)
    except FeatureViewNotFoundException:
        raise StoreNotApplied(str(store.config.registry.path)) from None


# --- online --------------------------------------------------------------------------------------

ONLINE_REVISION_UNIT: Final = timedelta(microseconds=1)
"""Online rows carry ``event_timestamp + reading_count x 1 us`` (see :func:`push_online`)."""


def online_rows(windows: pd.DataFrame) -> pd.DataFrame:
    """The rows :func:`push_online` writes: the newest window per machine, with the revision encoded.

    Feast's Redis store skips a write whose event time is not newer than the stored one, so a window
    updated by a late reading (same hour, same ``event_timestamp``) would never land. A window only
    changes by gaining readings, so ``reading_count`` grows with every revision: adding it in
    microseconds to the event time makes each revision strictly newer, while every window boundary
    stays on the whole second. Reads report whole seconds (Feast returns seconds), so the revision
    never shows; :func:`read_online` reports the window end exactly.
    """
    if len(windows) == 0:
        return windows
    latest = windows.sort_values([ENTITY_KEY, EVENT_TIMESTAMP, CREATED_TIMESTAMP], kind="stable")
    latest = latest.drop_duplicates(ENTITY_KEY, keep="last").copy()
    latest[EVENT_TIMESTAMP] = latest[EVENT_TIMESTAMP] + pd.to_timedelta(
        latest[READING_COUNT].to_numpy(dtype=np.int64), unit="us"
    )
    return latest


def push_online(store: FeatureStore, windows: pd.DataFrame) -> int:
    """Push windows to the online store through the push source; returns rows written.

    Only the newest window of each machine is written (the online store holds one row per machine),
    and callers should pass only windows that are their machine's newest (the ingest path does);
    see :func:`online_rows` for how same-hour updates land in Redis.

    With a Redis online store the rows are written directly in Feast's format
    (:mod:`features.online_redis`). Otherwise this is equivalent to
    ``store.push(PUSH_SOURCE, rows, to=PushMode.ONLINE)``: the feature views fed by
    the push source are resolved once per registry cache period and the rows go to the provider's
    ``ingest_df``, where ``push`` ends. ``push`` itself deserialises the registry three times per
    call (list views, get view, list services), about two thirds of its CPU time for this view.
    """
    rows = online_rows(windows)
    if len(rows) == 0:
        return 0
    frame = rows[list(WINDOW_COLUMNS)]
    try:
        writer = _redis_writer(store)
        if writer is not None:
            writer.write(frame)
            return len(rows)
        views = _push_views(store)
        if views is None:
            from feast.data_source import PushMode

            store.push(PUSH_SOURCE, frame, to=PushMode.ONLINE)
        else:
            provider = store._get_provider()
            for view in views:
                provider.ingest_df(view, frame)
    except Exception as exc:
        _translate_error(store, exc)
        raise
    return len(rows)


_REDIS_WRITERS: Final[weakref.WeakKeyDictionary[Any, Any]] = weakref.WeakKeyDictionary()


def _redis_writer(store: FeatureStore) -> Any:
    """The direct writer of a Redis store (:mod:`features.online_redis`, same bytes as Feast's
    write, a fraction of its CPU time), one per store; None for other online stores."""
    if getattr(store.config.online_store, "type", None) != "redis":
        return None
    writer = _REDIS_WRITERS.get(store)
    if writer is None:
        from features.online_redis import RedisOnlineWriter

        _require_view(store)
        writer = _REDIS_WRITERS[store] = RedisOnlineWriter(store, FEATURE_VIEW)
    return writer


_PUSH_VIEWS: Final[weakref.WeakKeyDictionary[Any, tuple[float, list[Any]]]] = weakref.WeakKeyDictionary()


def _push_views(store: FeatureStore) -> list[Any] | None:
    """The feature views fed by ``PUSH_SOURCE``, cached per store for the registry's cache TTL.
    None when Feast's provider is not reachable this way (then ``push_online`` uses ``push``)."""
    if not hasattr(store, "_get_provider"):  # pragma: no cover - a Feast upgrade moved it
        return None
    ttl = float(getattr(store.config.registry, "cache_ttl_seconds", 60) or 60)
    cached = _PUSH_VIEWS.get(store)
    now = time.monotonic()
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    views = [
        view
        for view in store.list_feature_views()
        if view.stream_source is not None and view.stream_source.name == PUSH_SOURCE
    ]
    if not views:
        _require_view(store)  # raises StoreNotApplied when nothing was applied
        return None
    _PUSH_VIEWS[store] = (now, views)
    return views


def _translate_error(store: FeatureStore, exc: Exception) -> None:
    """Turn the online store's own errors into domain errors (other errors pass through)."""
    import sqlite3

    import redis
    from feast.errors import FeatureViewNotFoundException

    if isinstance(exc, FeatureViewNotFoundException):
        raise StoreNotApplied(str(store.config.registry.path)) from exc
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        raise OnlineStoreUnavailable(f"online store unavailable: {exc}", hint=START_REDIS_HINT) from exc
    if isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc):
        raise StoreNotApplied(str(store.config.registry.path)) from exc


@dataclass(frozen=True)
class MaterializeSummary:
    start: datetime
    end: datetime
    windows_read: int
    machines_written: int


def materialize(
    store: FeatureStore,
    end: datetime | None = None,
    *,
    start: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk_rows: int = 1_000,
) -> MaterializeSummary:
    """Load the newest window of every machine with ``start <= event_timestamp < end`` into the
    online store, reporting ``progress(done, total)`` machines as it goes.

    Defaults: ``start`` is the oldest window offline (so every machine with any data comes back),
    ``end`` is one second past the newest window or now, whichever is later. This is what
    ``FeatureStore.materialize`` does for a file source (newest row per entity in the interval,
    newest ``created_timestamp`` on ties), done here with pyarrow instead of dask so that it can
    report progress; the interval is recorded in the registry as Feast's own materialisation does.
    """
    fv = _require_view(store)
    layout = layout_of(store)
    windows = read_offline(layout, start=start, end=end)
    if len(windows):
        first = windows[EVENT_TIMESTAMP].min().to_pydatetime()
        last = windows[EVENT_TIMESTAMP].max().to_pydatetime()
    else:
        first = last = datetime.now(UTC)
    start = start or first
    end = end or max(datetime.now(UTC), last + timedelta(seconds=1))
    latest = windows.sort_values([ENTITY_KEY, EVENT_TIMESTAMP], kind="stable").drop_duplicates(
        ENTITY_KEY, keep="last"
    )
    total = len(latest)
    if progress:
        progress(0, total)
    done = 0
    try:
        for lo in range(0, total, chunk_rows):
            chunk = latest.iloc[lo : lo + chunk_rows]
            store.write_to_online_store(FEATURE_VIEW, chunk[list(WINDOW_COLUMNS)])
            done += len(chunk)
            if progress:
                progress(done, total)
    except Exception as exc:
        _translate_error(store, exc)
        raise
    store.registry.apply_materialization(fv, store.project, start, end)
    return MaterializeSummary(start=start, end=end, windows_read=len(windows), machines_written=total)


@dataclass(frozen=True, slots=True)
class OnlineFeatures:
    """One machine's online features and their freshness.

    ``values`` holds every model feature, ``baseline_days`` and ``reading_count`` (as float), or is
    None when the store has nothing for the machine. ``event_timestamp`` is the window END;
    ``age_s`` is ``now`` minus it in seconds. ``is_stale`` is True when the age exceeds
    ``FEATURE_TTL`` or nothing is stored: Feast's Python read path does not enforce the view's TTL,
    so this flag is the check.
    """

    machine_id: str
    values: dict[str, float] | None
    event_timestamp: datetime | None
    age_s: float | None
    is_stale: bool
    is_sparse: bool
    baseline_is_cold: bool = False
    """The machine's own baseline is too short: its ``vs_own`` features compare it with its type."""

    def model_input(self) -> list[float] | None:
        """The values in ``MODEL_FEATURES`` order, or None when missing."""
        if self.values is None:
            return None
        return [self.values[name] for name in MODEL_FEATURES]


_TTL_S: Final = FEATURE_TTL.total_seconds()


def read_online(
    store: FeatureStore, machine_ids: Sequence[str], now: datetime | None = None
) -> list[OnlineFeatures]:
    """Read the online features of machines, in the order asked, with age and staleness at ``now``
    (default: the current time)."""
    if not machine_ids:
        return []
    now = now or datetime.now(UTC)
    now_s = (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()  # naive means UTC
    try:
        response = store.get_online_features(
            features=list(FEATURE_REFS), entity_rows=[{ENTITY_KEY: m} for m in machine_ids]
        )
    except Exception as exc:
        _translate_error(store, exc)
        raise
    data = response.to_dict(include_event_timestamps=True)
    ts_col = data[f"{VIEW_FEATURES[0]}__ts"]
    out: list[OnlineFeatures] = []
    for i, machine in enumerate(machine_ids):
        seconds = ts_col[i]
        first = data[VIEW_FEATURES[0]][i]
        if not seconds or first is None:
            out.append(OnlineFeatures(machine, None, None, None, True, False))
            continue
        values = {
            name: float(data[name][i]) for name in (*MODEL_FEATURES, BASELINE_DAYS_FEATURE, READING_COUNT)
        }
        age = now_s - seconds
        out.append(
            OnlineFeatures(
                machine_id=machine,
                values=values,
                event_timestamp=datetime.fromtimestamp(seconds, UTC),
                age_s=age,
                is_stale=age > _TTL_S,
                is_sparse=bool(data[IS_SPARSE][i]),
                baseline_is_cold=bool(data[BASELINE_IS_COLD][i]),
            )
        )
    return out


# --- historical ----------------------------------------------------------------------------------


def historical_features(
    store: FeatureStore, entity_df: pd.DataFrame, features: Iterable[str] = VIEW_FEATURES
) -> pd.DataFrame:
    """Point-in-time join: for every row of ``entity_df`` (``machine_id``, ``event_timestamp``
    tz-aware), the newest window whose ``event_timestamp`` is at or before the row's and no more
    than ``FEATURE_TTL`` older; features are NaN where there is none. Returns ``entity_df``'s
    columns plus ``features`` (names of ``VIEW_FEATURES``), one row per entity row, in its order."""
    _require_view(store)
    layout = layout_of(store)
    if not offline_files(layout):
        raise NoOfflineData(str(layout.windows_dir))
    names = list(features)
    refs = [f"{FEATURE_VIEW}:{name}" for name in names]
    # Ask for the distinct (machine, time) keys, each with a row number, and join the result back by
    # that number, then to entity_df by the keys: every row comes back, in order, with its other
    # columns. Offline stores differ in what they return: the file (dask) store drops rows without a
    # feature row, the DuckDB store returns rows in any order and its timestamps in microseconds.
    keys = [ENTITY_KEY, EVENT_TIMESTAMP]
    distinct = entity_df[keys].drop_duplicates().reset_index(drop=True)
    distinct[_ENTITY_ROW] = np.arange(len(distinct), dtype=np.int64)
    joined = store.get_historical_features(entity_df=distinct, features=refs).to_df()
    found = joined[[_ENTITY_ROW, *names]].drop_duplicates(_ENTITY_ROW)
    distinct = distinct.merge(found, on=_ENTITY_ROW, how="left").drop(columns=_ENTITY_ROW)
    out = entity_df.reset_index(drop=True).merge(distinct, on=keys, how="left")
    out.index = entity_df.index
    return out
