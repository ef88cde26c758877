"""``POST /ingest``: telemetry readings into hourly windows, pushed to the online and offline stores."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from core.contract import MAX_INGEST_BATCH, TelemetryBatch
from features.errors import OnlineStoreUnavailable
from scoring.freshness import NO_STORE
from scoring.routes import ERRORS, json_body
from scoring.state import StateDep
from service.errors import json_response
from service.json_body import read_model

router = APIRouter(tags=["ingest"])


@router.post(
    "/ingest",
    responses=ERRORS,
    summary=f"Ingest up to {MAX_INGEST_BATCH} telemetry readings",
    openapi_extra=json_body("#/components/schemas/TelemetryBatch"),
)
async def ingest(request: Request, state: StateDep) -> Response:
    """Aggregates readings into hourly windows and pushes them to the online and offline stores
    (with ``SCORING_INGEST_BACKEND=eventhubs``: publishes them, answering once Event Hubs accepted)."""
    batch = await read_model(request, TelemetryBatch)
    if state.publisher is not None:
        published = await run_in_threadpool(state.publisher.publish, batch.readings)
        return json_response(published.model_dump(mode="json"))
    if state.reader is None:
        raise OnlineStoreUnavailable(NO_STORE)
    result = await state.reader.ingest(batch)
    payload = result.model_dump(mode="json") if hasattr(result, "model_dump") else _plain(result)
    return json_response(payload)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
