"""Compact ONNX export of a fitted IsolationForest: one ``TreeEnsembleRegressor`` and one ``Exp``.

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    import onnx
    from sklearn.ensemble import IsolationForest

INPUT_NAME: Final = "X"
OUTPUT_NAME: Final = "anomaly_score"
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
) -> onnx.ModelProto:
    """Export a fitted IsolationForest as the compact graph described in the module docstring.

    ``features`` names the input columns in order (their count must match the model's).
    ``metadata`` goes into the graph's ``metadata_props`` (see ``core.bundle.ONNX_META_*``).
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

    def cat(parts: list[np.ndarray]) -> list:
        return np.concatenate(parts).tolist()

    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        inputs=[INPUT_NAME],
        outputs=["log_score"],
        domain="ai.onnx.ml",
        name="isolation_forest",
        n_targets=1,
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
        target_ids=[0] * int(sum(len(x) for x in leaf_node)),
        target_weights=cat(leaf_weight),
    )
    exp = helper.make_node("Exp", ["log_score"], ["score_2d"], name="to_score")
    shape = helper.make_tensor("flat_shape", TensorProto.INT64, [1], [-1])
    flatten = helper.make_node("Reshape", ["score_2d", "flat_shape"], [OUTPUT_NAME], name="flatten")
    graph = helper.make_graph(
        [ensemble, exp, flatten],
        "predmaint_isolation_forest",
        inputs=[helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", n_features])],
        outputs=[helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N"])],
        initializer=[shape],
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in TARGET_OPSET.items()],
        producer_name="azure-pred-maint-ops",
        doc_string="IsolationForest anomaly score (higher = more anomalous) = -score_samples",
    )
    proto.ir_version = 8
    if metadata:
        helper.set_model_props(proto, dict(metadata))
    onnx.checker.check_model(proto)
    return proto


def read_metadata(path_or_proto: object) -> dict[str, str]:
    """``metadata_props`` of an ONNX file or model as a dict."""
    import onnx

    proto = path_or_proto if isinstance(path_or_proto, onnx.ModelProto) else onnx.load(str(path_or_proto))
    return {p.key: p.value for p in proto.metadata_props}
