"""Build a model bundle (see :mod:`core.bundle`) from a training frame.

``build_bundle`` fits the detector on ``frame[MODEL_FEATURES]``, exports the compact ONNX graph,
writes an MLflow ``onnx``-flavour model directory (so ``mlflow models serve`` serves it), the
metadata and a fixed-size reference sample. With a few hundred rows and ``n_estimators=10`` it takes
well under a second (plus the one-off mlflow import), so other slices' tests can call it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from aml.detector import DEFAULT_N_ESTIMATORS, DEFAULT_THRESHOLD_QUANTILE, Detector, DetectorConfig
from core.bundle import (
    ATTRIBUTION_ONNX_FILE,
    ONNX_FILE,
    ONNX_META_FEATURES,
    ONNX_META_THRESHOLD,
    ONNX_META_VERSION,
    REFERENCE_FILE,
    REFERENCE_SAMPLE_ROWS,
    Bundle,
    BundleMeta,
    frame_hash,
    load_bundle,
    write_meta,
)
from core.contract import EVENT_TIMESTAMP, MODEL_FEATURES

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest


REFERENCE_HOURS_ATTR = "predmaint_reference_hours"


def reference_sample(frame: pd.DataFrame, features: Sequence[str], rows: int, seed: int) -> pd.DataFrame:
    """A fixed-size (``min(rows, len(frame))``), seeded sample of the inputs in time order (by
    ``EVENT_TIMESTAMP`` when the frame has it, else in the frame's order): drift calibration draws
    stretches of consecutive rows from it. The hours the frame spans go to ``attrs``, for the
    bundle's metadata."""
    hours = None
    if EVENT_TIMESTAMP in frame.columns:
        frame = frame.sort_values(EVENT_TIMESTAMP, kind="stable")
        ts = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True)
        hours = (ts.max() - ts.min()).total_seconds() / 3600.0 + 1.0 if len(ts) else None  # hourly rows
    x = frame[list(features)].astype("float64").reset_index(drop=True)
    if len(x) > rows:
        picked = np.sort(np.random.default_rng(seed).choice(len(x), size=rows, replace=False))
        x = x.iloc[picked].reset_index(drop=True)
    if hours is not None:
        x.attrs[REFERENCE_HOURS_ATTR] = float(hours)
    return x


def serving_requirements() -> list[str]:
    """What serving the MLflow model needs, pinned to the versions installed here."""
    from importlib.metadata import version

    return [f"{dist}=={version(dist)}" for dist in ("mlflow", "onnx", "onnxruntime", "numpy", "pandas")]


def write_bundle(
    model: IsolationForest,
    features: Sequence[str],
    threshold: float,
    threshold_quantile: float,
    reference: pd.DataFrame,
    out_dir: Path,
    *,
    version: str,
) -> Bundle:
    """Write a fitted model as a bundle directory (replacing ``out_dir`` if it exists)."""
    import mlflow.onnx
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    from aml.onnx_export import OUTPUT_NAME, to_onnx

    out_dir = Path(out_dir)
    onnx_meta = {
        ONNX_META_FEATURES: ",".join(features),
        ONNX_META_THRESHOLD: repr(float(threshold)),
        ONNX_META_VERSION: version,
    }
    proto = to_onnx(model, list(features), metadata=onnx_meta)
    attributed = to_onnx(model, list(features), metadata=onnx_meta, attribution=True)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", name) for name in features]),
        outputs=Schema([TensorSpec(np.dtype("float32"), (-1,), OUTPUT_NAME)]),
    )
    mlflow.onnx.save_model(
        proto,
        str(out_dir),
        signature=signature,
        onnx_execution_providers=["CPUExecutionProvider"],
        save_as_external_data=False,
        # Stated, not inferred: mlflow's inference runs pip/uv and takes ~20 s.
        pip_requirements=serving_requirements(),
    )
    if not (out_dir / ONNX_FILE).is_file():  # mlflow's file name is part of our bundle format
        raise RuntimeError(f"mlflow did not write {ONNX_FILE} in {out_dir}")
    (out_dir / ATTRIBUTION_ONNX_FILE).write_bytes(attributed.SerializeToString())
    reference.to_parquet(out_dir / REFERENCE_FILE, index=False)
    meta = BundleMeta(
        features=list(features),
        threshold=float(threshold),
        threshold_quantile=float(threshold_quantile),
        reference_hash=frame_hash(reference),
        reference_rows=len(reference),
        reference_hours=reference.attrs.get(REFERENCE_HOURS_ATTR),
        version=version,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_meta(out_dir, meta)
    return load_bundle(out_dir)


def build_bundle(
    frame: pd.DataFrame,
    out_dir: Path,
    *,
    threshold_quantile: float = DEFAULT_THRESHOLD_QUANTILE,
    n_estimators: int = DEFAULT_N_ESTIMATORS,
    seed: int = 0,
    version: str | None = None,
    reference_rows: int = REFERENCE_SAMPLE_ROWS,
) -> Bundle:
    """Fit IsolationForest on ``frame[MODEL_FEATURES]`` and write a bundle to ``out_dir``.

    ``version`` defaults to ``local-<UTC timestamp>``; the training step passes its MLflow run id.
    """
    features = list(MODEL_FEATURES)
    detector = Detector(
        DetectorConfig(
            window=None, n_estimators=n_estimators, threshold_quantile=threshold_quantile, seed=seed
        ),
        columns=features,
    ).fit(frame)
    assert detector.model is not None
    return write_bundle(
        detector.model,
        features,
        detector.threshold,
        threshold_quantile,
        reference_sample(frame, features, reference_rows, seed),
        out_dir,
        version=version or f"local-{datetime.now(UTC):%Y%m%dT%H%M%SZ}",
    )
