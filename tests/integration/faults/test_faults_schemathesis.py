"""Schemathesis against both services as their images run them (``python -m scoring``, ``python -m
drift``, API keys set), over real HTTP: schema-conforming and schema-violating requests to every
operation, and no answer is a 5xx.

Each app is started once, in its own process (a second start in one process would hit the ingest
write-ahead log's single-owner lock). The facade's SQLite online store is opened but never applied,
so ``machine_id`` and ``/ingest`` requests that pass validation get a deterministic 4xx from it
(within a store deadline long enough for a loaded machine).
(``tests.schema_fuzz`` drives the operations.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.generation.modes import GenerationMode

from bench.fault_rig import Facade, Sidecar
from core.bundle import Bundle
from tests.schema_fuzz import fuzz_operation

pytestmark = pytest.mark.integration

KEY = "fault-suite-key-0123456789abcdef"
EXAMPLES_PER_OPERATION_AND_MODE = 25


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults-schemathesis")


@pytest.fixture(scope="module")
def facade(bundle: Bundle, root: Path) -> Iterator[Facade]:
    env = {
        "PREDMAINT_DATA_DIR": str(root / "facade"),
        "SCORING_MODEL_PATH": str(bundle.directory),
        "SCORING_ONLINE_STORE": "sqlite",
        "SCORING_INFERENCE_LOG_DIR": str(root / "log"),
        "SCORING_API_KEY": KEY,
        # a local SQLite read on a loaded machine can take longer than the 0.5 s meant for a hung
        # Redis; its 503 `timeout` would be the machine's doing, not the input's
        "SCORING_STORE_TIMEOUT_S": "10",
    }
    with Facade(env, root / "facade.log") as running:
        yield running


@pytest.fixture(scope="module")
def sidecar(bundle: Bundle, root: Path) -> Iterator[Sidecar]:
    env = {
        "PREDMAINT_DATA_DIR": str(root / "drift"),
        "DRIFT_MODEL_PATH": str(bundle.directory),
        "DRIFT_INFERENCE_LOG_DIR": str(root / "log"),
        "DRIFT_API_KEY": KEY,
    }
    with Sidecar(env, root / "drift.log") as running:
        yield running


def _fuzz_all(base: str) -> dict[str, set[int]]:
    """Status codes seen per ``METHOD path mode`` over every operation of ``base``'s schema."""
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    statuses: dict[str, set[int]] = {}
    with requests.Session() as session:
        for operation in operations:
            # GET routes take no input: there is nothing negative to generate for them
            modes = [GenerationMode.POSITIVE] + (
                [GenerationMode.NEGATIVE] if operation.method == "post" else []
            )
            for mode in modes:
                seen = statuses.setdefault(f"{operation.method.upper()} {operation.path} {mode.value}", set())
                fuzz_operation(
                    operation,
                    mode,
                    EXAMPLES_PER_OPERATION_AND_MODE,
                    seen,
                    base_url=base,
                    session=session,
                    headers={"x-api-key": KEY},
                )
    return statuses


def test_no_input_makes_the_facade_answer_a_server_error(facade: Facade) -> None:
    statuses = _fuzz_all(facade.base)
    assert {"POST /predict positive", "POST /ingest negative"} <= set(statuses)
    assert all(code < 500 for codes in statuses.values() for code in codes), statuses
    # the key let the cases through to the routes (scored, or refused by the unapplied store)
    assert statuses["POST /predict positive"] & {200, 409}


def test_no_input_makes_the_sidecar_answer_a_server_error(sidecar: Sidecar) -> None:
    statuses = _fuzz_all(sidecar.base)
    assert {"POST /drift positive", "POST /drift negative"} <= set(statuses)
    assert all(code < 500 for codes in statuses.values() for code in codes), statuses
    assert 200 in statuses["POST /drift positive"]  # checks really ran
