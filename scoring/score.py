"""AzureML scoring script (``init()``/``run()``) on the same scoring core as the facade.

Deployed by ``aml/endpoints/{blue,green}.yml`` with the repository as code and this file as
``scoring_script``; the model (a bundle directory, :mod:`core.bundle`) is mounted under
``AZUREML_MODEL_DIR``. ``run`` takes the inline request of the facade (``{"features": {...}}`` or
``{"rows": [...]}``) and answers the facade's prediction shape. Bad input answers a JSON error with
a 4xx status through ``AMLResponse`` (the inference server turns an exception into a 500).

``PREDMAINT_MODEL_VERSION`` (set in the deployment) is reported as ``model_version``; without it the
bundle's content version is.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

# The code root (the repository) holds ``scoring``, ``features`` and ``aml``; the inference server
# puts only this file's folder on sys.path.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from core.bundle import META_FILE, load_bundle  # noqa: E402
from core.contract import MAX_BODY_BYTES, describe_errors  # noqa: E402
from core.errors import BodyTooLarge, InvalidInput, PredMaintError  # noqa: E402
from scoring.core import Scorer  # noqa: E402
from scoring.errors import ModelUnavailable  # noqa: E402
from scoring.explanations import top_features  # noqa: E402
from scoring.schemas import InlineRequest  # noqa: E402

log = logging.getLogger("scoring.score")
MODEL_VERSION_ENV = "PREDMAINT_MODEL_VERSION"

_scorer: Scorer | None = None


def _find_bundle(model_dir: Path) -> Path:
    """The bundle directory inside the mounted model folder (AzureML adds a level: the model name)."""
    if (model_dir / META_FILE).is_file():
        return model_dir
    found = sorted(model_dir.glob(f"**/{META_FILE}"), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"no {META_FILE} under {model_dir}")
    return found[0].parent


def init() -> None:
    global _scorer
    model_dir = Path(os.environ.get("AZUREML_MODEL_DIR", "."))
    bundle = load_bundle(_find_bundle(model_dir))
    _scorer = Scorer.from_bundle(bundle, version=os.environ.get(MODEL_VERSION_ENV) or None, source="azureml")
    log.info("scoring model %s (threshold %s)", _scorer.version, _scorer.threshold)


def _error(error: PredMaintError) -> Any:
    """The one error body (``core.errors``), as the facade answers it."""
    from azureml.contrib.services.aml_response import AMLResponse  # provided by the inference server

    return AMLResponse(error.body(), error.status, json_str=True)


def run(raw_data: str) -> Any:
    """Score inline rows. 200 with predictions; 413/422 as JSON errors; 503 before ``init``."""
    if _scorer is None:
        return _error(ModelUnavailable("init() has not loaded a model"))
    if len(raw_data.encode()) > MAX_BODY_BYTES:
        return _error(BodyTooLarge(MAX_BODY_BYTES))
    try:
        request = InlineRequest.model_validate_json(raw_data)
    except ValidationError as exc:
        return _error(InvalidInput(describe_errors(exc)))
    rows = request.row_list()
    scorer = _scorer
    matrix = np.array([[getattr(row, name) for name in scorer.features] for row in rows], dtype=np.float32)
    scored, contributions = scorer.explain(matrix)
    scores = scored.tolist()
    predictions: list[dict[str, Any]] = [
        {"anomaly_score": s, "is_anomaly": s >= scorer.threshold} for s in scores
    ]
    if contributions is not None and scorer.attribution_baseline is not None:
        explained = top_features(scored, contributions, scorer.features, scorer.attribution_baseline)
        for item, top in zip(predictions, explained, strict=True):
            item["top_features"] = top
    if request.features is not None:
        return {**predictions[0], "model_version": scorer.version, "threshold": scorer.threshold}
    return {"model_version": scorer.version, "threshold": scorer.threshold, "predictions": predictions}


if __name__ == "__main__":  # a local smoke run: python scoring/score.py '{"rows": [...]}'
    init()
    print(json.dumps(run(sys.argv[1]), default=str))
