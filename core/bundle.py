"""The model bundle: what a registered model version carries, in one directory.

A bundle is an MLflow model directory (``MLmodel`` of the ``onnx`` flavour, so ``mlflow models
serve`` can serve it) plus two files of ours:

- ``model.onnx``: the compact ONNX graph (one TreeEnsembleRegressor, output ``anomaly_score``), the
  file the MLflow ``onnx`` flavour serves; feature names, threshold and version are also in its
  metadata_props.
- ``model-attribution.onnx``: the same trees with a second output, ``feature_contributions``
  (``aml.onnx_export`` defines it); what the scoring core runs. Bundles written before it existed
  lack it and are scored without explanations. It is a separate file because MLflow's ``onnx``
  pyfunc returns every graph output as one DataFrame column and cannot hold an ``[N, F]`` output.
- ``predmaint.json``: :class:`BundleMeta` below.
- ``reference.parquet``: a fixed-size sample of the training inputs (``MODEL_FEATURES`` columns),
  which the drift sidecar compares live inputs against; its hash is in ``predmaint.json``.

Scoring and drift read bundles only through :func:`load_bundle`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict

from core.errors import PredMaintError

if TYPE_CHECKING:
    import pandas as pd

REGISTERED_MODEL_NAME: Final = "pred-maint-isoforest"
CHAMPION_ALIAS: Final = "champion"
"""The serving pointer's name (``registry:<name>@champion``, ``SCORING_MODEL_ALIAS``). Not an MLflow
registered-model alias: the workspace's MLflow endpoint documents no alias support, so the pointer
is the model-version tag ``CHAMPION_TAG`` (see ``core.registry``)."""
CHAMPION_TAG: Final = "predmaint.champion"
"""Model-version tag holding the champion pointer: the promotion's sequence number (``"1"``, ``"2"``,
...); the version with the highest number is the champion."""
EXPERIMENT_NAME: Final = "pred-maint-training"
"""MLflow experiment that training and registration runs go to."""

ONNX_FILE: Final = "model.onnx"
ATTRIBUTION_ONNX_FILE: Final = "model-attribution.onnx"
META_FILE: Final = "predmaint.json"
REFERENCE_FILE: Final = "reference.parquet"
REFERENCE_SAMPLE_ROWS: Final = 5_000

# metadata_props keys inside the ONNX graph
ONNX_META_FEATURES: Final = "predmaint.features"
ONNX_META_THRESHOLD: Final = "predmaint.threshold"
ONNX_META_VERSION: Final = "predmaint.version"
ONNX_META_ATTRIBUTION_BASELINE: Final = "predmaint.attribution_baseline"
"""The score that feature contributions are measured from (0.5 for an IsolationForest without
bootstrap): the graph's contributions of a row sum to ``log2(anomaly_score / baseline)``, and in
score units (``scoring.explanations``) to ``anomaly_score - baseline``."""

# the graph's interface (inputs and outputs), shared by the exporter and the scoring core
ONNX_INPUT: Final = "X"
ONNX_SCORE_OUTPUT: Final = "anomaly_score"
ONNX_CONTRIBUTIONS_OUTPUT: Final = "feature_contributions"


class BundleMeta(BaseModel):
    """Contents of ``predmaint.json``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    features: list[str]
    threshold: float
    """``anomaly_score >= threshold`` means anomalous (higher score = more anomalous)."""
    threshold_quantile: float
    reference_hash: str
    """``sha256:<hex>`` of the reference sample, see :func:`frame_hash`."""
    reference_rows: int
    reference_hours: float | None = None
    """Hours spanned by the training rows the reference sample was drawn from (in time order);
    ``None`` when unknown (bundles written before it was recorded). Drift calibration uses it to
    draw reference stretches that span as long as the live window (``drift.calibration``)."""
    version: str
    """Content version stamped at training time (run id); the registry version may differ."""
    trained_at: str


@dataclass(frozen=True)
class Bundle:
    directory: Path
    meta: BundleMeta

    @property
    def onnx_path(self) -> Path:
        return self.directory / ONNX_FILE

    @property
    def attribution_onnx_path(self) -> Path | None:
        """The graph with feature contributions, or None for a bundle written before it existed."""
        path = self.directory / ATTRIBUTION_ONNX_FILE
        return path if path.is_file() else None

    @property
    def reference_path(self) -> Path:
        return self.directory / REFERENCE_FILE

    def load_reference(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(self.reference_path, columns=self.meta.features)


class BundleError(PredMaintError):
    """A bundle directory is missing a file or its metadata is invalid."""

    code = "invalid_bundle"


def frame_hash(frame: pd.DataFrame) -> str:
    """A stable hash of a numeric frame's columns, order and values (float64, little-endian)."""
    import numpy as np

    digest = hashlib.sha256()
    digest.update(json.dumps(list(map(str, frame.columns))).encode())
    digest.update(np.ascontiguousarray(frame.to_numpy(dtype="<f8")).tobytes())
    return f"sha256:{digest.hexdigest()}"


def load_bundle(directory: Path) -> Bundle:
    """Read and check a bundle directory (files present, metadata valid)."""
    directory = Path(directory)
    for name in (ONNX_FILE, META_FILE, REFERENCE_FILE):
        if not (directory / name).is_file():
            raise BundleError(f"model bundle {directory} has no {name}")
    try:
        meta = BundleMeta.model_validate_json((directory / META_FILE).read_text())
    except ValueError as exc:
        raise BundleError(f"model bundle {directory}: invalid {META_FILE}: {exc}") from exc
    return Bundle(directory=directory, meta=meta)


def write_meta(directory: Path, meta: BundleMeta) -> None:
    (Path(directory) / META_FILE).write_text(meta.model_dump_json(indent=2))
