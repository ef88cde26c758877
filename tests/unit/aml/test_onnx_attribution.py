"""Feature contributions of the compact ONNX graph: exact against an independent numpy walk of
sklearn's trees, summing to the score's deviation from the baseline, naming the feature that was
made extreme. Works for any feature count (the contract's list changes)."""

from __future__ import annotations

import itertools

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.ensemble import IsolationForest

from aml.onnx_export import CONTRIBUTIONS_NAME, INPUT_NAME, OUTPUT_NAME, read_metadata, to_onnx
from core.bundle import ONNX_META_ATTRIBUTION_BASELINE
from scoring.explanations import to_score_units


def _c(n: np.ndarray | float) -> np.ndarray:
    """c(n) written out again here, so that the reference does not share the exporter's code."""
    n = np.asarray(n, dtype=np.float64)
    safe = np.maximum(n, 3.0)
    big = 2.0 * (np.log(safe - 1.0) + np.euler_gamma) - 2.0 * (safe - 1.0) / safe
    return np.where(n > 2, big, np.where(n == 2, 1.0, 0.0))


def reference(model: IsolationForest, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log2 credits [N, F], baseline): walk each row's decision path in every tree."""
    n_features = x.shape[1]
    credits = np.zeros((len(x), n_features))
    c_max = float(_c(float(model._max_samples)))
    root = 0.0
    for est, feats in zip(model.estimators_, model.estimators_features_, strict=True):
        tree = est.tree_
        expected = _c(tree.n_node_samples)
        root += float(expected[0])
        paths = est.decision_path(x[:, feats].astype(np.float32))
        for i in range(len(x)):
            nodes = paths.indices[paths.indptr[i] : paths.indptr[i + 1]]
            for p, q in itertools.pairwise(nodes):
                credits[i, feats[tree.feature[p]]] += expected[p] - expected[q] - 1.0
    t = len(model.estimators_)
    return credits / (t * c_max), 2.0 ** (-root / (t * c_max))


def _session(proto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.fixture(
    scope="module",
    params=[(8, {}), (5, {"max_features": 0.6, "max_samples": 100}), (17, {})],
    ids=["8-features", "5-subspace", "17-features"],
)
def fitted(request):
    n_features, kwargs = request.param
    rng = np.random.default_rng(n_features)
    train = rng.standard_normal((1_500, n_features)).astype(np.float32)
    model = IsolationForest(n_estimators=30, random_state=0, **kwargs).fit(train)
    names = [f"f{i}" for i in range(n_features)]
    proto = to_onnx(model, names, attribution=True)
    return model, _session(proto), proto, rng


def _run(sess: ort.InferenceSession, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score, contributions = sess.run([OUTPUT_NAME, CONTRIBUTIONS_NAME], {INPUT_NAME: x.astype(np.float32)})
    return score, contributions


def test_scores_unchanged_by_the_attribution_output(fitted) -> None:
    model, sess, _, rng = fitted
    x = rng.standard_normal((500, model.n_features_in_)).astype(np.float32) * 2
    plain = _session(to_onnx(model, [f"f{i}" for i in range(model.n_features_in_)]))
    score, _ = _run(sess, x)
    np.testing.assert_array_equal(score, plain.run([OUTPUT_NAME], {INPUT_NAME: x})[0])
    np.testing.assert_allclose(score, -model.score_samples(x), atol=1e-5)


def test_contributions_match_a_numpy_walk_of_the_trees(fitted) -> None:
    model, sess, proto, rng = fitted
    x = rng.standard_normal((60, model.n_features_in_)).astype(np.float32) * 1.5
    _, got = _run(sess, x)
    credits, baseline = reference(model, x)
    assert float(read_metadata(proto)[ONNX_META_ATTRIBUTION_BASELINE]) == pytest.approx(baseline, abs=1e-12)
    # the reference's credits are the exact decomposition of sklearn's score ...
    np.testing.assert_allclose(credits.sum(1), np.log2(-model.score_samples(x) / baseline), atol=1e-9)
    # ... and the graph computes the same credits
    np.testing.assert_allclose(got, credits, atol=2e-6)


def test_contributions_sum_to_the_deviation_from_the_baseline(fitted) -> None:
    model, sess, proto, rng = fitted
    baseline = float(read_metadata(proto)[ONNX_META_ATTRIBUTION_BASELINE])
    x = rng.standard_normal((2_000, model.n_features_in_)).astype(np.float32) * 3
    score, contributions = _run(sess, x)
    assert np.isfinite(contributions).all()
    np.testing.assert_allclose(contributions.sum(1), np.log2(score / baseline), atol=2e-6)
    in_score_units = to_score_units(score, contributions, baseline)
    np.testing.assert_allclose(in_score_units.sum(1), score - baseline, atol=1e-7)
    assert (np.sign(in_score_units) == np.sign(contributions)).all()


def test_a_feature_made_extreme_ranks_first(fitted) -> None:
    model, sess, _, rng = fitted
    n = model.n_features_in_
    base = rng.standard_normal((1, n)).astype(np.float32) * 0.2
    x = np.tile(base, (n, 1))
    for f in range(n):
        x[f, f] = 8.0  # eight standard deviations out, every other feature ordinary
    score, contributions = _run(sess, x)
    ordinary, _ = _run(sess, base)
    assert (score > ordinary).all()
    assert np.argmax(contributions, axis=1).tolist() == list(range(n))


def test_single_sample_forest_has_zero_contributions() -> None:
    model = IsolationForest(n_estimators=3, max_samples=1, random_state=0).fit(np.arange(6.0).reshape(3, 2))
    _, contributions = _run(_session(to_onnx(model, ["a", "b"], attribution=True)), np.ones((2, 2)))
    np.testing.assert_array_equal(contributions, np.zeros((2, 2), dtype=np.float32))
