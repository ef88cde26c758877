"""HTTP clients of the facade and the drift sidecar, as the demo uses them.

Every /predict outcome is counted in :class:`~predmaint.demo.record.PredictStats`: a request that
raised or answered anything but 200 is a failed request (the demo exits non-zero when there is one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from core.contract import MAX_PREDICT_BATCH
from predmaint.demo.record import DriftRow, PredictStats
from predmaint.ingest_client import IngestRejected, post_readings


class ClientError(Exception):
    """A service answered something the demo cannot go on with."""


@dataclass(frozen=True)
class Scored:
    machine_id: str
    anomaly_score: float
    is_anomaly: bool
    threshold: float
    model_version: str
    top_features: list[dict[str, Any]] | None = None


class FacadeClient:
    def __init__(self, base_url: str, stats: PredictStats, timeout_s: float = 10.0) -> None:
        self.base_url = base_url
        self.stats = stats
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def ingest(self, readings: pd.DataFrame) -> int:
        """POST the readings in chunks; readings accepted. Raises ClientError on a non-200."""
        try:
            return post_readings(self._http, "/ingest", readings)
        except IngestRejected as exc:
            raise ClientError(str(exc)) from exc

    def predict_machine(self, machine_id: str) -> Scored | None:
        """Score one machine from the online store (the ``machine_id`` path); None when it failed."""
        self.stats.requests += 1
        self.stats.rows += 1
        try:
            resp = self._http.post("/predict", json={"machine_id": machine_id})
        except httpx.HTTPError as exc:
            self._failed(f"{machine_id}: {type(exc).__name__}: {exc}")
            return None
        if resp.status_code != 200:
            if resp.status_code == 409:
                self.stats.stale_rows += 1
            self._failed(f"{machine_id}: {resp.status_code} {resp.text[:200]}")
            return None
        body = resp.json()
        return Scored(
            machine_id=machine_id,
            anomaly_score=float(body["anomaly_score"]),
            is_anomaly=bool(body["is_anomaly"]),
            threshold=float(body["threshold"]),
            model_version=str(body["model_version"]),
            top_features=body.get("top_features"),
        )

    def predict_rows(self, rows: list[dict[str, float]]) -> int:
        """Score feature rows inline (``rows``, in batches of ``MAX_PREDICT_BATCH``); rows scored.
        Raises ClientError on a non-200: used before the live phase, where nothing may fail."""
        done = 0
        for lo in range(0, len(rows), MAX_PREDICT_BATCH):
            part = rows[lo : lo + MAX_PREDICT_BATCH]
            resp = self._http.post("/predict", json={"rows": part})
            if resp.status_code != 200:
                raise ClientError(f"/predict (rows) answered {resp.status_code}: {resp.text[:300]}")
            done += len(part)
        return done

    def _failed(self, message: str) -> None:
        self.stats.failed += 1
        self.stats.failed_rows += 1
        self.stats.note_error(message)

    def predict_all(self, machine_ids: Iterable[str]) -> list[Scored]:
        return [s for m in machine_ids if (s := self.predict_machine(m)) is not None]

    def model(self) -> dict[str, Any]:
        resp = self._http.get("/model")
        if resp.status_code != 200:
            raise ClientError(f"/model answered {resp.status_code}: {resp.text[:300]}")
        body: dict[str, Any] = resp.json()
        return body


class DriftClient:
    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def latest(self) -> dict[str, Any] | None:
        """The sidecar's latest verdict (``GET /drift``), or None when it has none yet."""
        try:
            resp = self._http.get("/drift")
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        body: dict[str, Any] = resp.json()
        return body

    def save_report(self, path: Path) -> bool:
        """Save the Evidently HTML report of the latest check (``GET /drift/report``)."""
        try:
            resp = self._http.get("/drift/report")
        except httpx.HTTPError:
            return False
        if resp.status_code != 200 or not resp.content:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(resp.content)
        tmp.replace(path)
        return True


def drift_row(body: dict[str, Any], sim_time: datetime, wall_s: float) -> DriftRow:
    """A sidecar verdict (``drift.detector.DriftResult`` as JSON) as one row of the record."""
    columns = body.get("columns") or {}
    reference = body.get("reference") or {}
    window = body.get("window") or {}
    has_verdict = body.get("status") == "ok"
    return DriftRow(
        sim_time=sim_time,
        wall_s=wall_s,
        detected=bool(body.get("drift_detected")) if has_verdict else None,
        share=body.get("drifted_share") if has_verdict else None,
        share_threshold=body.get("drift_share"),
        columns={name: float(c["score"]) for name, c in columns.items()},
        column_thresholds={name: float(c["threshold"]) for name, c in columns.items()},
        model_version=reference.get("model_version"),
        reference_hash=reference.get("reference_hash"),
        window_rows=window.get("rows"),
    )
