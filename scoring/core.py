"""The scoring core: one onnxruntime session over a bundle's compact ONNX graph.

Shared by the facade (``scoring.main``) and the AzureML scoring script (``scoring.score``). A
:class:`Scorer` is immutable once built: the model store swaps whole scorers, so a request that took
one reference scores every row with one model version.

The session runs the bundle's attribution graph when it has one (``core.bundle``), so one run yields
the scores and every row's feature contributions (:meth:`Scorer.explain`); an older bundle without
it is scored as before, and its rows carry no explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.bundle import (
    ONNX_CONTRIBUTIONS_OUTPUT,
    ONNX_INPUT,
    ONNX_META_ATTRIBUTION_BASELINE,
    ONNX_SCORE_OUTPUT,
    Bundle,
    load_bundle,
)
from core.contract import MODEL_FEATURES
from scoring.errors import ModelIncompatible


def make_session(onnx_path: Path) -> Any:
    """An onnxruntime session tuned for many small requests: one intra-op thread, sequential."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class Scorer:
    """A loaded model: session, feature order, threshold and identity."""

    session: Any
    features: tuple[str, ...]
    threshold: float
    version: str
    """What responses report as ``model_version``: the registry version when loaded from the registry,
    otherwise the bundle's content version."""
    content_version: str
    reference_hash: str
    source: str
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    input_name: str = ONNX_INPUT
    output_name: str = ONNX_SCORE_OUTPUT
    contributions_name: str | None = None
    """The graph's contributions output, None when the bundle has no attribution graph."""
    attribution_baseline: float | None = None
    """Score the contributions are measured from: they sum to ``anomaly_score - baseline``."""

    @classmethod
    def from_bundle(cls, bundle: Bundle, *, version: str | None = None, source: str = "") -> Scorer:
        """Load and warm up a bundle. Raises ModelIncompatible when its features differ from the contract."""
        meta = bundle.meta
        if tuple(meta.features) != MODEL_FEATURES:
            raise ModelIncompatible(
                f"bundle {bundle.directory} expects features {meta.features}, "
                f"the contract has {list(MODEL_FEATURES)}"
            )
        graph = bundle.attribution_onnx_path or bundle.onnx_path
        session = make_session(graph)
        inputs = session.get_inputs()
        outputs = {o.name for o in session.get_outputs()}
        if len(inputs) != 1 or ONNX_SCORE_OUTPUT not in outputs:
            raise ModelIncompatible(
                f"bundle {bundle.directory}: graph must have one input and an {ONNX_SCORE_OUTPUT} output"
            )
        contributions = ONNX_CONTRIBUTIONS_OUTPUT if ONNX_CONTRIBUTIONS_OUTPUT in outputs else None
        baseline = session.get_modelmeta().custom_metadata_map.get(ONNX_META_ATTRIBUTION_BASELINE)
        if contributions is not None and baseline is None:
            raise ModelIncompatible(f"{graph}: contributions output without {ONNX_META_ATTRIBUTION_BASELINE}")
        scorer = cls(
            session=session,
            features=tuple(meta.features),
            threshold=float(meta.threshold),
            version=version or meta.version,
            content_version=meta.version,
            reference_hash=meta.reference_hash,
            source=source or str(bundle.directory),
            input_name=inputs[0].name,
            output_name=ONNX_SCORE_OUTPUT,
            contributions_name=contributions,
            attribution_baseline=float(baseline) if contributions is not None and baseline else None,
        )
        scorer.score(np.zeros((1, len(scorer.features)), dtype=np.float32))  # warm up: first run allocates
        return scorer

    @classmethod
    def from_path(cls, directory: Path, *, version: str | None = None) -> Scorer:
        return cls.from_bundle(load_bundle(directory), version=version)

    def score(self, matrix: np.ndarray) -> np.ndarray:
        """Anomaly scores (float64, higher = more anomalous) of an ``[N, len(features)]`` matrix."""
        x = np.ascontiguousarray(matrix, dtype=np.float32)
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def explain(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores and feature contributions (``[N, F]`` float32 in the graph's log2 units, see
        ``scoring.explanations``) from one run; contributions None without the attribution graph."""
        x = np.ascontiguousarray(matrix, dtype=np.float32)
        if self.contributions_name is None:
            return self.score(x), None
        score, contributions = self.session.run(
            [self.output_name, self.contributions_name], {self.input_name: x}
        )
        return np.asarray(score, dtype=np.float64).reshape(-1), contributions

    def matrix(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Rows keyed by feature name -> ``[N, F]`` float32 in the model's feature order."""
        return np.array([[row[name] for name in self.features] for row in rows], dtype=np.float32)
