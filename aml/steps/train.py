"""Pipeline step ``train``: IsolationForest over the feature service's columns (``MODEL_FEATURES``).

Calls ``mlflow.autolog()`` (parameters of the forest), then logs what autolog cannot know: the
calibrated threshold, the training score distribution (quantiles as metrics, a histogram as an
artifact) and the bundle. The decision threshold is the ``threshold_quantile`` quantile of the
training scores (see ``aml.detector``): with the default 0.995, one training window in 200 is above
it; alerts additionally need ``alert_k`` consecutive windows (see ``aml.evaluation``).

Output ``model``: a bundle directory (``core.bundle``): MLflow ONNX model, metadata, reference sample.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from aml.steps.step_io import (
    SUMMARY_FILE,
    WINDOWS_FILE,
    StepError,
    main_guard,
    read_json,
    step_run,
    tracking_uri_for,
)
from core.contract import MODEL_FEATURES

HISTOGRAM_BINS = 50
QUANTILES = (0.5, 0.9, 0.99, 0.995, 0.999)


def score_histogram(scores: np.ndarray, threshold: float) -> pd.DataFrame:
    counts, edges = np.histogram(scores, bins=HISTOGRAM_BINS)
    return pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "count": counts,
            "above_threshold": edges[:-1] >= threshold,
        }
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m aml.steps.train", description=__doc__.split("\n")[0])
    p.add_argument("--train-data", required=True)
    p.add_argument("--data-dir", required=True, help="predmaint data dir (local MLflow store)")
    p.add_argument("--n-estimators", type=int, default=100)
    p.add_argument("--max-samples", type=int, default=256)
    p.add_argument("--threshold-quantile", type=float, default=0.995)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", required=True, help="output folder for the bundle")
    args = p.parse_args(argv)

    import mlflow

    from aml.bundle_builder import reference_sample, write_bundle
    from aml.detector import Detector, DetectorConfig, DetectorError
    from core.bundle import REFERENCE_SAMPLE_ROWS

    path = Path(args.train_data) / WINDOWS_FILE
    if not path.is_file():
        raise StepError(f"no training windows at {path}")
    frame = pd.read_parquet(path)
    prepared = read_json(Path(args.train_data) / SUMMARY_FILE)
    features = list(MODEL_FEATURES)
    max_samples = min(args.max_samples, len(frame))
    uri = tracking_uri_for(Path(args.data_dir))
    with step_run(uri, "train") as run:
        # The forest is logged as our compact ONNX bundle, not as a pickled/skops sklearn model.
        mlflow.autolog(log_models=False, silent=True)
        try:
            detector = Detector(
                DetectorConfig(
                    window=None,
                    n_estimators=args.n_estimators,
                    max_samples=max_samples,
                    threshold_quantile=args.threshold_quantile,
                    seed=args.seed,
                ),
                columns=features,
            ).fit(frame)
        except DetectorError as exc:
            raise StepError(str(exc)) from exc
        assert detector.model is not None and detector.training_scores is not None
        scores = detector.training_scores
        metrics = {
            "train_windows": float(len(frame)),
            "train_machines": float(frame["machine_id"].nunique()),
            "threshold": detector.threshold,
            "train_flag_rate": float(np.mean(scores >= detector.threshold)),
            **{f"train_score_q{q:g}": float(np.quantile(scores, q)) for q in QUANTILES},
        }
        mlflow.log_params(
            {"threshold_quantile": args.threshold_quantile, "features": ",".join(features), "seed": args.seed}
        )
        mlflow.log_metrics(metrics)
        mlflow.log_table(score_histogram(scores, detector.threshold), "score_histogram.json")
        mlflow.log_dict(prepared, "prepare_summary.json")
        bundle = write_bundle(
            detector.model,
            features,
            detector.threshold,
            args.threshold_quantile,
            reference_sample(frame, features, REFERENCE_SAMPLE_ROWS, args.seed),
            Path(args.model),
            version=run.info.run_id,
        )
        mlflow.log_artifacts(str(bundle.directory), "bundle")
    print(
        f"train: {len(frame)} windows, threshold {detector.threshold:.4f} "
        f"(q={args.threshold_quantile}), run {run.info.run_id}"
    )


if __name__ == "__main__":
    sys.exit(main_guard(main))
