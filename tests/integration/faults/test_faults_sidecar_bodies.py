"""Oversized and hostile bodies for the drift sidecar: refused with a 4xx naming the field and the
rule, never a 5xx, and before the check does any work (caps on bytes, rows x columns, values)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from core.layout import DataLayout
from drift.adhoc import MAX_ABS_VALUE
from drift.drift_service import create_app
from drift.settings import DriftSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[TestClient]:
    settings = DriftSettings(
        background=False, inference_log_dir=tmp_path / "log", state_path=tmp_path / "state.json"
    )
    with TestClient(create_app(settings, layout=DataLayout(tmp_path / "predmaint"))) as client:
        yield client


def _rows(rows: int, columns: int, seed: int = 0) -> list[dict[str, float]]:
    values = np.random.default_rng(seed).normal(size=(rows, columns)).round(6)
    names = [f"c{j}" for j in range(columns)]
    return [dict(zip(names, row, strict=True)) for row in values.tolist()]


def test_the_15_mib_request_of_the_issue_is_refused_unparsed(sidecar: TestClient) -> None:
    body = orjson.dumps({"reference": _rows(7_500, 100), "current": _rows(7_500, 100, seed=1)})
    assert len(body) > 8 * 1024 * 1024
    r = sidecar.post("/drift", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "body_too_large"


def test_rows_times_columns_beyond_the_cap_is_422_naming_the_side(sidecar: TestClient) -> None:
    settings: DriftSettings = sidecar.app.state.settings  # type: ignore[attr-defined]
    rows = settings.max_request_cells // 50 + 1  # 50 columns: one row over the cap
    r = sidecar.post("/drift", json={"reference": _rows(100, 50), "current": _rows(rows, 50)})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert (error["field"], error["rule"]) == ("current", "too_many_cells")


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1e13", "Infinity", "NaN"])
def test_out_of_range_and_non_finite_values_are_422_naming_the_field(sidecar: TestClient, value: str) -> None:
    rows = ",".join('{"a": 1.0, "b": 2.0}' for _ in range(20))
    body = f'{{"reference": [{rows}], "current": [{{"a": {value}, "b": 2.0}}, {rows}]}}'
    r = sidecar.post("/drift", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["detail"]]
    assert any(f.startswith("current.0.a") or f == "current.0.a" for f in fields), fields


def test_values_at_the_bound_are_checked_not_refused(sidecar: TestClient) -> None:
    reference = _rows(200, 2)
    current = _rows(200, 2, seed=3)
    current[0]["c0"] = MAX_ABS_VALUE
    r = sidecar.post("/drift", json={"reference": reference, "current": current})
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("ok", "no_verdict")


def test_the_costliest_request_within_the_caps_is_refused_as_too_costly(sidecar: TestClient) -> None:
    """625 rows x 32 columns a side is within every cap and cost 1.28 s of CPU (issue 13): the cost
    model (``drift.cost``) refuses it before any work, naming its estimate and the cap."""
    settings: DriftSettings = sidecar.app.state.settings  # type: ignore[attr-defined]
    rows = settings.max_request_cells // settings.max_request_columns
    body = {"reference": _rows(rows, 32), "current": _rows(rows, 32, seed=1)}
    r = sidecar.post("/drift", json=body)
    assert r.status_code == 422, r.text
    error = r.json()
    assert error["error"] == "too_costly"
    assert error["detail"]["estimated_s"] > error["detail"]["max_s"] == settings.max_request_cost_s
    assert (error["detail"]["reference_rows"], error["detail"]["columns"]) == (rows, 32)
    small = sidecar.post("/drift", json={"reference": _rows(300, 4), "current": _rows(300, 4, seed=2)})
    assert small.status_code == 200, small.text
