"""Score a frame with a bundle's compact ONNX graph (batch, offline use: evaluation, data prep).

The online path lives in ``scoring/``; this is the same graph run over whole frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aml.onnx_export import INPUT_NAME
from core.bundle import Bundle


def score_frame(bundle: Bundle, frame: pd.DataFrame, *, threads: int = 1) -> np.ndarray:
    """Anomaly scores (higher = more anomalous) of ``frame[bundle.meta.features]``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(bundle.onnx_path), options, providers=["CPUExecutionProvider"])
    x = frame[bundle.meta.features].to_numpy(dtype=np.float32)
    if len(x) == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(session.run(None, {INPUT_NAME: x})[0], dtype=np.float64)
