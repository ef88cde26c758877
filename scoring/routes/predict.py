"""``POST /predict``: one row or a batch, inline or by ``machine_id``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.contract import MAX_PREDICT_BATCH
from scoring.freshness import online_matrix
from scoring.inference_log import LogChunk
from scoring.routes import ERRORS, json_body
from scoring.schemas import BatchPrediction, PredictRequest, SinglePrediction
from scoring.state import FEATURES, ServiceState
from service.errors import json_response
from service.json_body import parse_model

router = APIRouter(tags=["predict"])


@router.post(
    "/predict",
    response_model=SinglePrediction | BatchPrediction,
    responses=ERRORS,
    summary=f"Score one row or up to {MAX_PREDICT_BATCH}, inline or by machine_id",
    openapi_extra=json_body("#/components/schemas/PredictRequest"),
)
async def predict(request: Request) -> Response:
    """Inline rows are scored as given. ``machine_id(s)`` read the latest window features from the
    online store; features older than the TTL are refused with 409 (``stale_features``), unknown
    machines with 404, and an unreachable store answers 503 (inline scoring keeps working)."""
    # The hot path parses its body itself: pydantic-core straight from bytes, no dependency
    # solving (about a third of FastAPI's per-request cost); the schema is in the OpenAPI document.
    state: ServiceState = request.app.state.scoring
    body = parse_model(await request.body(), PredictRequest)
    extras: list[dict[str, Any]] | None = None
    machine_ids: tuple[str, ...] | None = None
    event_ts: tuple[float | None, ...] | None = None
    if body.features is not None or body.rows is not None:
        rows = [body.features] if body.features is not None else body.rows
        matrix = np.array([[getattr(row, name) for name in FEATURES] for row in rows or ()], dtype=np.float32)
    else:
        ids = [body.machine_id] if body.machine_id is not None else list(body.machine_ids or ())
        matrix, extras, event_ts = await online_matrix(state, ids)
        machine_ids = tuple(ids)
    scored = await state.backend.score(matrix)
    state.count(scored)
    state.log(
        LogChunk(
            ts=time.time(),
            model_version=scored.model_version,
            features=FEATURES,
            matrix=matrix,
            scores=scored.scores,
            threshold=scored.threshold,
            machine_ids=machine_ids,
            event_timestamps=event_ts,
            top_features=scored.top_features,
        )
    )
    predictions = []
    top = scored.top_features
    for i, score in enumerate(scored.scores.tolist()):
        item: dict[str, Any] = {"anomaly_score": score, "is_anomaly": score >= scored.threshold}
        if top is not None:
            item["top_features"] = top[i]
        if extras is not None:
            item.update(extras[i])
        predictions.append(item)
    if body.is_batch:
        return json_response(
            {"model_version": scored.model_version, "threshold": scored.threshold, "predictions": predictions}
        )
    return json_response(
        {**predictions[0], "model_version": scored.model_version, "threshold": scored.threshold}
    )
