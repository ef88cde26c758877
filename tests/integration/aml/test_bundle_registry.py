"""A bundle built by ``build_bundle`` is served by MLflow's ONNX flavour, and the registry moves the
champion (a model-version tag, the same on SQLite as on the workspace) only when told to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aml.bundle_builder import build_bundle
from aml.bundle_scoring import score_frame
from core.bundle import CHAMPION_TAG, load_bundle
from core.contract import MODEL_FEATURES
from core.layout import DataLayout
from core.registry import champion_version, download_version, register_bundle, set_champion

_STATS = [2.5, 0.3, 3.5, 55.0, 0.8, 57.0, 1480.0, 12.0]
# then the relative features: robust deviations, about one sigma
CENTRE = np.array(_STATS + [1.0] * (len(MODEL_FEATURES) - len(_STATS)))


def frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        CENTRE * (1 + 0.05 * rng.standard_normal((n, len(CENTRE)))), columns=list(MODEL_FEATURES)
    )


def test_bundle_serves_through_mlflow_pyfunc(tmp_path: Path) -> None:
    import mlflow.pyfunc

    bundle = build_bundle(frame(300, 0), tmp_path / "b", threshold_quantile=0.99, n_estimators=10, seed=1)
    assert load_bundle(bundle.directory).meta.threshold == bundle.meta.threshold
    assert bundle.meta.reference_rows == 300
    test = frame(20, 1)
    served = mlflow.pyfunc.load_model(str(bundle.directory)).predict(test)
    np.testing.assert_allclose(np.asarray(served).ravel(), score_frame(bundle, test), atol=1e-6)


def test_champion_moves_only_on_promote(tmp_path: Path) -> None:
    uri = DataLayout(tmp_path / "predmaint").mlflow_tracking_uri
    assert champion_version(uri) is None
    bundle = build_bundle(frame(200, 0), tmp_path / "b", n_estimators=5)
    assert register_bundle(uri, bundle, promote=False, tags={"trigger": "test"}) == "1"
    assert champion_version(uri) is None
    assert register_bundle(uri, bundle, promote=True, tags={}) == "2"
    assert champion_version(uri) == "2"
    got = download_version(uri, "2", tmp_path / "dl")
    assert got.meta.reference_hash == bundle.meta.reference_hash
    assert register_bundle(uri, bundle, promote=False) == "3"
    assert champion_version(uri) == "2"
    set_champion(uri, "1")  # a rollback: the older version gets the next promotion number
    assert champion_version(uri) == "1"
    from mlflow import MlflowClient

    versions = MlflowClient(uri, uri).search_model_versions("")
    tags = {str(mv.version): mv.tags.get(CHAMPION_TAG) for mv in versions}
    assert tags == {"1": "2", "2": "1", "3": None}
    with pytest.raises(Exception, match="version 9"):
        download_version(uri, "9", tmp_path / "nope")
    with pytest.raises(Exception, match="no version 9"):
        set_champion(uri, "9")
