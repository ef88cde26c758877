"""The facade's routes, one router per resource: ``predict``, ``ingest``, ``model``. Health and
metrics come from ``service``."""

from __future__ import annotations

from typing import Any

from core.contract import MAX_BODY_BYTES
from scoring.schemas import ErrorBody

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "API key missing or wrong (when SCORING_API_KEY is set)"),
        (404, "no online features for a machine"),
        (409, "online features older than the feature view TTL (stale), never scored"),
        (413, f"body larger than {MAX_BODY_BYTES} bytes"),
        (415, "body not sent as application/json"),
        (422, "input broke the contract (or repeats a key): detail lists field, rule, message"),
        (503, "no model loaded, or online store unreachable (machine_id path only)"),
    )
}
"""The error answers the facade documents in its OpenAPI description (one body shape)."""


def json_body(ref: str) -> dict[str, Any]:
    """``openapi_extra`` of a route that parses its JSON body itself (schema under components)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}}
