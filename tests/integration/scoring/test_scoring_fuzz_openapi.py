"""Property-based fuzzing of the facade's OpenAPI schema (schemathesis): no answer is a 5xx.

Every operation gets schema-conforming (positive) and schema-violating (negative) examples. The app
runs with a model and a SQLite online store whose feature registry was never applied, so
``machine_id`` and ``/ingest`` requests that pass validation get a deterministic 4xx from the store.
(schemathesis' pytest plugin cannot resolve a fixture-based schema on this pytest version, so the
operations are driven with Hypothesis directly.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from core.bundle import Bundle
from core.layout import DataLayout
from scoring.main import create_app
from scoring.settings import ScoringSettings
from tests.waiting import wait_until

EXAMPLES_PER_OPERATION_AND_MODE = 25


def test_no_input_makes_a_server_error(bundle: Bundle, layout: DataLayout, tmp_path: Path) -> None:
    settings_ = ScoringSettings(
        model_path=bundle.directory,
        online_store="sqlite",
        inference_log_dir=tmp_path / "l",
        # a SQLite read on a loaded machine can outlast the 0.5 s meant for a hung Redis: that 503
        # `timeout` would be the machine's doing, not the input's
        store_timeout_s=10,
    )
    app = create_app(settings_, layout=layout)
    with TestClient(app) as client:  # runs the lifespan: model loaded, store opening
        wait_until(
            lambda: (
                client.get("/health/ready").json()["checks"]["online_store"]["state"]
                not in ("opening", "probing")
            ),
            120,
            "the online store is still opening",
            interval=0.2,
        )
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"POST /predict", "POST /ingest"}
        statuses: dict[str, set[int]] = {}
        for operation in operations:
            # GET routes take no input: there is nothing negative to generate for them
            modes = [GenerationMode.POSITIVE] + (
                [GenerationMode.NEGATIVE] if operation.method == "post" else []
            )
            for mode in modes:
                _fuzz(
                    operation,
                    mode,
                    statuses.setdefault(f"{operation.method.upper()} {operation.path} {mode.value}", set()),
                )
    assert all(code < 500 for codes in statuses.values() for code in codes), statuses
    assert 200 in statuses["POST /predict positive"]  # positive examples really got scored


def _fuzz(operation: Any, mode: GenerationMode, seen: set[int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=[not_a_server_error])
        seen.add(response.status_code)

    fuzz()
