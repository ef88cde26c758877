"""The compact ONNX graph scores exactly like sklearn (higher = more anomalous = -score_samples)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.ensemble import IsolationForest

from aml.onnx_export import INPUT_NAME, OUTPUT_NAME, TARGET_OPSET, read_metadata, to_onnx
from core.contract import MODEL_FEATURES

N_FEATURES = len(MODEL_FEATURES)
# realistic hourly windows: vibration mean/std/max, temperature mean/std/max, speed mean/std, then
# the relative features (robust deviations around 0, a unit spread)
_STATS_CENTRE = [2.5, 0.3, 3.5, 55.0, 0.8, 57.0, 1480.0, 12.0]
_STATS_SPREAD = [0.6, 0.08, 0.9, 6.0, 0.2, 6.5, 60.0, 3.0]
CENTRE = np.array(_STATS_CENTRE + [0.0] * (N_FEATURES - len(_STATS_CENTRE)))
SPREAD = np.array(_STATS_SPREAD + [1.0] * (N_FEATURES - len(_STATS_SPREAD)))


def realistic(rng: np.random.Generator, n: int) -> np.ndarray:
    return (CENTRE + SPREAD * rng.standard_normal((n, N_FEATURES))).astype(np.float32)


def session(proto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.fixture(
    scope="module", params=[{}, {"max_features": 0.5, "max_samples": 100}], ids=["default", "subspace"]
)
def fitted(request):
    rng = np.random.default_rng(1)
    model = IsolationForest(n_estimators=40, random_state=0, **request.param).fit(realistic(rng, 2_000))
    proto = to_onnx(model, MODEL_FEATURES, metadata={"predmaint.version": "test"})
    return model, session(proto), proto


def onnx_scores(sess: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return sess.run([OUTPUT_NAME], {INPUT_NAME: x.astype(np.float32)})[0]


def test_graph_is_one_tree_ensemble_with_metadata(fitted) -> None:
    _, _, proto = fitted
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("TreeEnsembleRegressor") == 1
    assert len(ops) <= 3
    assert {o.domain: o.version for o in proto.opset_import} == TARGET_OPSET
    assert read_metadata(proto) == {"predmaint.version": "test"}


def test_parity_on_realistic_windows(fitted) -> None:
    model, sess, _ = fitted
    x = realistic(np.random.default_rng(2), 5_000)
    x[:200] *= 1.5  # some clearly abnormal windows too
    got = onnx_scores(sess, x)
    assert got.shape == (len(x),)
    np.testing.assert_allclose(got, -model.score_samples(x), rtol=0, atol=1e-5)


def test_parity_on_values_exactly_at_split_thresholds(fitted) -> None:
    """sklearn compares float32 inputs with float64 thresholds; the graph must split the same way."""
    model, sess, _ = fitted
    tree = model.estimators_[0].tree_
    feats = model.estimators_features_[0]
    rows = []
    for node in np.flatnonzero(tree.children_left != -1)[:100]:
        t = np.float32(tree.threshold[node])
        for v in (t, np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf))):
            row = CENTRE.astype(np.float32).copy()
            row[feats[tree.feature[node]]] = v
            rows.append(row)
    x = np.asarray(rows, dtype=np.float32)
    np.testing.assert_allclose(onnx_scores(sess, x), -model.score_samples(x), rtol=0, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 16), st.just(N_FEATURES)),
        elements=st.floats(-1e4, 2e4, allow_nan=False, allow_infinity=False, width=32),
    )
)
def test_parity_on_random_inputs(x: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    model = _MODEL.get("m")
    if model is None:
        model = _MODEL["m"] = IsolationForest(n_estimators=30, random_state=0).fit(realistic(rng, 1_000))
        _MODEL["s"] = session(to_onnx(model, MODEL_FEATURES))
    np.testing.assert_allclose(onnx_scores(_MODEL["s"], x), -model.score_samples(x), rtol=0, atol=1e-5)


_MODEL: dict = {}


def test_feature_count_mismatch_is_refused() -> None:
    model = IsolationForest(n_estimators=2, random_state=0).fit(np.zeros((10, 3)) + np.arange(10)[:, None])
    with pytest.raises(ValueError, match="3 inputs"):
        to_onnx(model, MODEL_FEATURES)
