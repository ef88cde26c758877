"""The one client of ``POST /ingest``: readings as the contract's JSON body, posted in chunks. The demo's
facade client and ``predmaint simulate stream`` both post through it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from core.contract import MAX_INGEST_BATCH, TIMESTAMP

if TYPE_CHECKING:
    import httpx
    import pandas as pd

INGEST_CHUNK: Final = min(2_000, MAX_INGEST_BATCH)
"""Readings per request: 2,000 readings are ~300 kB, well inside the 1 MiB body limit."""
_ISO_UTC: Final = "%Y-%m-%dT%H:%M:%S.%f+00:00"


class IngestRejected(Exception):
    """``/ingest`` answered something other than a 2xx."""

    def __init__(self, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(f"/ingest answered {status_code}: {body[:300]}")


def readings_payload(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """``{"readings": [...]}`` of a readings frame (UTC timestamps, contract column names)."""
    out = frame.assign(**{TIMESTAMP: frame[TIMESTAMP].dt.strftime(_ISO_UTC)})
    return {"readings": [{str(k): v for k, v in r.items()} for r in out.to_dict(orient="records")]}


def post_readings(http: httpx.Client, url: str, frame: pd.DataFrame, chunk: int = INGEST_CHUNK) -> int:
    """POST ``frame`` in chunks of ``chunk`` readings; the readings the service accepted.

    Raises :class:`IngestRejected` on the first answer that is not a 2xx; transport errors propagate."""
    if not 1 <= chunk <= MAX_INGEST_BATCH:
        raise ValueError(f"chunk must lie in [1, {MAX_INGEST_BATCH}], got {chunk}")
    accepted = 0
    for lo in range(0, len(frame), chunk):
        part = frame.iloc[lo : lo + chunk]
        resp = http.post(url, json=readings_payload(part))
        if not 200 <= resp.status_code < 300:
            raise IngestRejected(resp.status_code, resp.text)
        accepted += int(resp.json().get("accepted", len(part)))
    return accepted
