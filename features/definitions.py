"""Feast objects of the feature repo, declared once: entity, sources, feature view, feature service.

Names, types and the TTL come from :mod:`core.contract`. The file source's path is relative:
Feast resolves a relative ``FileSource`` path against the repo path, and
:func:`features.store.open_store` sets the repo path to the data directory, so the same registry
entry works for every ``PREDMAINT_DATA_DIR``. Apply these with ``predmaint features apply``
(which uses :func:`features.store.apply`), not the ``feast`` CLI.

This module imports feast at top level; import it only where feast is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Bool, Float64, Int64, String

from core.contract import (
    BASELINE_DAYS_FEATURE,
    BASELINE_IS_COLD,
    CREATED_TIMESTAMP,
    ENTITY_KEY,
    ENTITY_NAME,
    EVENT_TIMESTAMP,
    FEATURE_SERVICE,
    FEATURE_TTL,
    FEATURE_VIEW,
    IS_SPARSE,
    MODEL_FEATURES,
    PUSH_SOURCE,
    READING_COUNT,
)
from core.layout import DataLayout

WINDOWS_PATH: Final = DataLayout(Path(".")).windows_dir.as_posix()
"""The offline windows directory relative to the data directory (``offline/sensor_stats``)."""

machine = Entity(
    name=ENTITY_NAME,
    join_keys=[ENTITY_KEY],
    value_type=ValueType.STRING,
    description="one rotating machine of the fleet",
)

windows_source = FileSource(
    name="sensor_stats_windows",
    path=WINDOWS_PATH,
    file_format=None,
    timestamp_field=EVENT_TIMESTAMP,
    created_timestamp_column=CREATED_TIMESTAMP,
    description="hourly window aggregates: a parquet file per UTC day (on ADLS Gen2, per day and partition)",
)

windows_push = PushSource(name=PUSH_SOURCE, batch_source=windows_source)

sensor_stats_view = FeatureView(
    name=FEATURE_VIEW,
    entities=[machine],
    ttl=FEATURE_TTL,
    schema=[
        Field(name=ENTITY_KEY, dtype=String),
        *(Field(name=name, dtype=Float64) for name in MODEL_FEATURES),
        Field(name=BASELINE_DAYS_FEATURE, dtype=Float64),
        Field(name=READING_COUNT, dtype=Int64),
        Field(name=IS_SPARSE, dtype=Bool),
        Field(name=BASELINE_IS_COLD, dtype=Bool),
    ],
    source=windows_push,
    online=True,
    description=(
        "per machine and hour: mean/std(ddof=0)/max of the sensors, reading count, sparse flag; robust "
        "deviations of the means from the machine's own same-hour baseline (last BASELINE_DAYS days) "
        "and from its type's peers in the same hour, baseline day count and cold-start flag"
    ),
)

model_service = FeatureService(
    name=FEATURE_SERVICE,
    features=[sensor_stats_view[list(MODEL_FEATURES)]],
    description="the anomaly model's inputs, in MODEL_FEATURES order",
)

OBJECTS: Final[list[Entity | FileSource | PushSource | FeatureView | FeatureService]] = [
    machine,
    windows_source,
    windows_push,
    sensor_stats_view,
    model_service,
]
"""Everything ``apply`` registers."""
