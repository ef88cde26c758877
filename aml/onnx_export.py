"""Compact ONNX export of a fitted IsolationForest: one ``TreeEnsembleRegressor`` and one ``Exp``
(plus two ``Slice`` nodes for the optional feature contributions).

skl2onnx turns every tree into its own sub-graph (thousands of nodes, ~1.5 ms a row). Here all trees
go into a single ``TreeEnsembleRegressor`` (``ai.onnx.ml`` opset 3) whose leaf values are the
isolation path length of that leaf, ``depth + c(leaf samples)``, pre-multiplied by
``-ln 2 / (n_trees * c(max_samples))``. The ensemble sums them and ``Exp`` turns the sum into

    anomaly_score = 2 ** (-mean_path_length / c(max_samples)) = -IsolationForest.score_samples(X)

so **higher means more anomalous**, in (0, 1], and ``anomaly_score >= threshold`` is an anomaly.

Graph: input ``X`` float32 ``[N, F]`` -> output ``anomaly_score`` float32 ``[N]``.

Thresholds are stored as float32 rounded *down* (the largest float32 <= the sklearn threshold), so
``x <= t`` for a float32 ``x`` decides exactly as sklearn's float64 comparison does: sklearn casts
inputs to float32 before walking its trees, so this keeps the path identical.

**Feature contributions** (``to_onnx(..., attribution=True)``, second output
``feature_contributions`` float32 ``[N, F]``). In one tree, write ``c(v)`` for ``c(samples at node
v)``, the path length expected below ``v``. The isolation path of a row from the root ``r`` to its
leaf ``l`` telescopes over the edges ``p -> q`` it takes:

    h(x) = depth(l) + c(l) = c(r) - sum over edges p -> q of [c(p) - c(q) - 1]

Each term is how much that one split shortened the row's path against what was expected at ``p``
(negative: the row went where most samples went, which makes it look normal), and the split is on
one feature. Crediting each term to its split's feature and averaging over the trees gives, since
``log2(anomaly_score) = -mean_t h_t / c(max_samples)``,

    log2(anomaly_score / baseline) = sum_f a_f
    a_f = sum over trees t, splits p -> q on f of [c(p) - c(q) - 1] / (T c(max_samples))

with ``baseline = 2 ** (-mean_t c(r_t) / c(max_samples))`` = 0.5 (the score of a row whose paths
are exactly as long as expected; every tree's root holds ``max_samples`` samples; the graph's
metadata carries it). This is exact, not an approximation: each ``a_f`` is a sum of leaf constants,
so the one ``TreeEnsembleRegressor`` carries them as extra targets (target 0: the score, targets
1..F: the ``a_f`` of each leaf's path) and one pass over the trees yields both. The output is
``a_f`` in these log2 units; ``scoring.explanations`` rescales them to score units (one positive
factor per row, so that they sum to ``anomaly_score - baseline``). A feature with a large positive
contribution is one whose splits isolated the row early.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    import onnx
    from sklearn.ensemble import IsolationForest

from core.bundle import (
    ONNX_CONTRIBUTIONS_OUTPUT,
    ONNX_INPUT,
    ONNX_META_ATTRIBUTION_BASELINE,
    ONNX_SCORE_OUTPUT,
)

INPUT_NAME: Final = ONNX_INPUT
OUTPUT_NAME: Final = ONNX_SCORE_OUTPUT
CONTRIBUTIONS_NAME: Final = ONNX_CONTRIBUTIONS_OUTPUT
TARGET_OPSET: Final = {"": 17, "ai.onnx.ml": 3}


def average_path_length(n: np.ndarray | float) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful BST search among ``n`` points (as in sklearn)."""
    arr = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(arr)
    big = arr > 2
    out[arr == 2] = 1.0
    out[big] = 2.0 * (np.log(arr[big] - 1.0) + np.euler_gamma) - 2.0 * (arr[big] - 1.0) / arr[big]
    return out


def _float32_floor(values: np.ndarray) -> np.ndarray:
    """Largest float32 that is <= each float64 value."""
    f32 = values.astype(np.float32)
    too_big = f32.astype(np.float64) > values
    f32[too_big] = np.nextafter(f32[too_big], np.float32(-np.inf))
    return f32


def to_onnx(
    model: IsolationForest,
    features: Sequence[str],
    *,
    metadata: Mapping[str, str] | None = None,
    attribution: bool = False,
) -> onnx.ModelProto:
    """Export a fitted IsolationForest as the compact graph described in the module docstring.

    ``features`` names the input columns in order (their count must match the model's).
    ``metadata`` goes into the graph's ``metadata_props`` (see ``core.bundle.ONNX_META_*``).
    ``attribution`` adds the ``feature_contributions`` output (and the baseline to the metadata).
    """
    import onnx
    from onnx import TensorProto, helper

    n_features = int(model.n_features_in_)
    if len(features) != n_features:
        raise ValueError(f"model has {n_features} inputs but {len(features)} feature names were given")
    n_trees = len(model.estimators_)
    c_max = float(average_path_length(float(model._max_samples)))
    denominator = n_trees * c_max
    # A forest fitted on a single sample has c_max == 0 and sklearn scores everything 1.0 (-> -1).
    scale = -math.log(2.0) / denominator if denominator > 0 else 0.0
    credit_scale = 1.0 / denominator if denominator > 0 else 0.0
    root_paths = 0.0

    tree_ids: list[np.ndarray] = []
    node_ids: list[np.ndarray] = []
    feature_ids: list[np.ndarray] = []
    modes: list[str] = []
    values: list[np.ndarray] = []
    true_ids: list[np.ndarray] = []
    false_ids: list[np.ndarray] = []
    leaf_tree: list[np.ndarray] = []
    leaf_node: list[np.ndarray] = []
    leaf_weight: list[np.ndarray] = []
    leaf_target: list[np.ndarray] = []
    for t, (est, feats) in enumerate(zip(model.estimators_, model.estimators_features_, strict=True)):
        tree = est.tree_
        n = tree.node_count
        left = tree.children_left
        right = tree.children_right
        is_leaf = left == -1
        feature_map = np.asarray(feats, dtype=np.int64)
        feat = np.where(is_leaf, 0, feature_map[np.where(is_leaf, 0, tree.feature)])
        ids = np.arange(n, dtype=np.int64)
        tree_ids.append(np.full(n, t, dtype=np.int64))
        node_ids.append(ids)
        feature_ids.append(feat.astype(np.int64))
        modes.extend("LEAF" if leaf else "BRANCH_LEQ" for leaf in is_leaf)
        values.append(np.where(is_leaf, np.float32(0), _float32_floor(tree.threshold)).astype(np.float32))
        true_ids.append(np.where(is_leaf, 0, left).astype(np.int64))
        false_ids.append(np.where(is_leaf, 0, right).astype(np.int64))
        # compute_node_depths counts the root as 1; the path length counts edges.
        depth = tree.compute_node_depths().astype(np.float64) - 1.0
        path = depth + average_path_length(tree.n_node_samples.astype(np.float64))
        leaves = ids[is_leaf]
        leaf_tree.append(np.full(len(leaves), t, dtype=np.int64))
        leaf_node.append(leaves)
        leaf_weight.append(path[is_leaf] * scale)
        leaf_target.append(np.zeros(len(leaves), dtype=np.int64))
        if attribution:
            expected = average_path_length(tree.n_node_samples.astype(np.float64))
            root_paths += float(expected[0])
            credits = _path_credits(left, right, feat, expected, n_features)[is_leaf] * credit_scale
            leaf_idx, feature_idx = np.nonzero(credits)  # a leaf's path splits on a few features only
            leaf_tree.append(np.full(len(leaf_idx), t, dtype=np.int64))
            leaf_node.append(leaves[leaf_idx])
            leaf_weight.append(credits[leaf_idx, feature_idx])
            leaf_target.append(feature_idx.astype(np.int64) + 1)

    def cat(parts: list[np.ndarray]) -> list[Any]:
        out: list[Any] = np.concatenate(parts).tolist()
        return out

    n_targets = 1 + (n_features if attribution else 0)
    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        inputs=[INPUT_NAME],
        outputs=["ensemble" if attribution else "log_score"],
        domain="ai.onnx.ml",
        name="isolation_forest",
        n_targets=n_targets,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=cat(tree_ids),
        nodes_nodeids=cat(node_ids),
        nodes_featureids=cat(feature_ids),
        nodes_modes=modes,
        nodes_values=cat(values),
        nodes_truenodeids=cat(true_ids),
        nodes_falsenodeids=cat(false_ids),
        target_treeids=cat(leaf_tree),
        target_nodeids=cat(leaf_node),
        target_ids=cat(leaf_target),
        target_weights=cat(leaf_weight),
    )
    nodes = [ensemble]
    initializers = [helper.make_tensor("flat_shape", TensorProto.INT64, [1], [-1])]
    outputs = [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N"])]
    meta = dict(metadata or {})
    if attribution:
        baseline = 2.0 ** (-root_paths / denominator) if denominator > 0 else 1.0
        meta[ONNX_META_ATTRIBUTION_BASELINE] = repr(baseline)
        nodes += _attribution_nodes(n_features, initializers)
        outputs.append(
            helper.make_tensor_value_info(CONTRIBUTIONS_NAME, TensorProto.FLOAT, ["N", n_features])
        )
    nodes.append(helper.make_node("Exp", ["log_score"], ["score_2d"], name="to_score"))
    nodes.append(helper.make_node("Reshape", ["score_2d", "flat_shape"], [OUTPUT_NAME], name="flatten"))
    graph = helper.make_graph(
        nodes,
        "predmaint_isolation_forest",
        inputs=[helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", n_features])],
        outputs=outputs,
        initializer=initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in TARGET_OPSET.items()],
        producer_name="azure-pred-maint-ops",
        doc_string="IsolationForest anomaly score (higher = more anomalous) = -score_samples",
    )
    proto.ir_version = 8
    if meta:
        helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto)
    return proto


def _path_credits(
    left: np.ndarray, right: np.ndarray, feature: np.ndarray, expected: np.ndarray, n_features: int
) -> np.ndarray:
    """``[nodes, F]``: for every node, the path-shortening credits ``c(p) - c(q) - 1`` of the splits
    on the way from the root to it, summed per feature (see the module docstring)."""
    credits = np.zeros((len(left), n_features), dtype=np.float64)
    # sklearn numbers a parent before its children, so one pass in node order fills every path
    for p in np.flatnonzero(left != -1).tolist():
        for q in (int(left[p]), int(right[p])):
            credits[q] = credits[p]
            credits[q, feature[p]] += expected[p] - expected[q] - 1.0
    return credits


def _attribution_nodes(n_features: int, initializers: list[Any]) -> list[Any]:
    """Split the ensemble's ``[N, 1 + F]`` output into ``log_score`` and the contributions (log2
    units, module docstring); appends the constants it needs to ``initializers``."""
    from onnx import TensorProto, helper

    def const(name: str, values: list[int]) -> str:
        initializers.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))
        return name

    axis, start, end = const("axis_1", [1]), const("col_0", [0]), const("col_end", [1 + n_features])
    return [
        helper.make_node("Slice", ["ensemble", start, axis, axis], ["log_score"], name="log_score"),
        helper.make_node("Slice", ["ensemble", axis, end, axis], [CONTRIBUTIONS_NAME], name="contributions"),
    ]


def read_metadata(path_or_proto: object) -> dict[str, str]:
    """``metadata_props`` of an ONNX file or model as a dict."""
    import onnx

    proto = path_or_proto if isinstance(path_or_proto, onnx.ModelProto) else onnx.load(str(path_or_proto))
    return {p.key: p.value for p in proto.metadata_props}
