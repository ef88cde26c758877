"""Property-based fuzzing of the facade's OpenAPI schema (schemathesis): no answer is a 5xx.

Every operation gets schema-conforming (positive) and schema-violating (negative) examples. The app
runs with a model and a SQLite online store whose feature registry was never applied, so
``machine_id`` and ``/ingest`` requests that pass validation get a deterministic 4xx from the store.
(``tests.schema_fuzz`` drives the operations with Hypothesis.)
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from schemathesis.generation.modes import GenerationMode

from core.bundle import Bundle
from core.layout import DataLayout
from scoring.main import create_app
from scoring.settings import ScoringSettings
from tests.schema_fuzz import fuzz_operation
from tests.waiting import wait_until

EXAMPLES_PER_OPERATION_AND_MODE = 25


def test_no_input_makes_a_server_error(bundle: Bundle, layout: DataLayout, tmp_path: Path) -> None:
    settings_ = ScoringSettings(
        model_path=bundle.directory, online_store="sqlite", inference_log_dir=tmp_path / "l"
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
                fuzz_operation(
                    operation,
                    mode,
                    EXAMPLES_PER_OPERATION_AND_MODE,
                    statuses.setdefault(f"{operation.method.upper()} {operation.path} {mode.value}", set()),
                )
    assert all(code < 500 for codes in statuses.values() for code in codes), statuses
    assert 200 in statuses["POST /predict positive"]  # positive examples really got scored
