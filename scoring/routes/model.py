"""``GET /model``: the model being served."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from scoring.routes import ERRORS
from scoring.schemas import ModelInfo
from scoring.state import StateDep
from service.errors import json_response

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ModelInfo, responses=ERRORS, summary="The model being served")
async def model(state: StateDep) -> Response:
    return json_response(state.backend.info().model_dump(mode="json"))
