"""README.md and docs/*.md against the code: generated blocks are current, and every setting,
route, error code and ``predmaint`` option the prose names still exists (names read from the code,
see :mod:`predmaint.reference`). Each check is also fed a renamed name to show it fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from predmaint import reference

DOCS = reference.doc_paths()


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(reference.REPO)) for p in paths]


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {name: path.read_text() for name, path in zip(_ids(DOCS), DOCS, strict=True)}


def test_the_docs_exist() -> None:
    names = set(_ids(DOCS))
    assert {"README.md", "docs/cli.md", "docs/drift.md", "docs/scoring.md", "docs/features.md"} <= names


def test_generated_blocks_are_current(texts: dict[str, str]) -> None:
    stale = [name for name, text in texts.items() if reference.refresh(text) != text]
    assert not stale, f"run `python -m predmaint.reference`: stale generated blocks in {stale}"


def test_every_documented_setting_exists(texts: dict[str, str]) -> None:
    unknown = {name: reference.unknown_env_names(text) for name, text in texts.items()}
    assert not {k: v for k, v in unknown.items() if v}


def test_every_documented_cli_option_exists(texts: dict[str, str]) -> None:
    unknown = {name: reference.unknown_cli_options(text) for name, text in texts.items()}
    assert not {k: v for k, v in unknown.items() if v}


def test_every_documented_route_exists(texts: dict[str, str]) -> None:
    unknown = {name: reference.unknown_routes(text) for name, text in texts.items()}
    assert not {k: v for k, v in unknown.items() if v}


def test_every_documented_error_code_exists(texts: dict[str, str]) -> None:
    unknown = {name: reference.unknown_error_codes(text) for name, text in texts.items()}
    assert not {k: v for k, v in unknown.items() if v}


def test_relative_links_point_at_files(texts: dict[str, str]) -> None:
    broken = []
    for name, text in texts.items():
        base = (reference.REPO / name).parent
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#")[0]
            if not path or "://" in path or path.startswith("mailto:"):
                continue
            if not (base / path).exists():
                broken.append(f"{name}: {target}")
    assert not broken


# --- the checks fail on a renamed name -------------------------------------------------------------


def test_a_renamed_setting_is_reported() -> None:
    text = "`DRIFT_MIN_ROWS` and `SCORING_POLL_INTERVAL_S`; renamed: `DRIFT_MINIMUM_ROWS`, `SCORING_POLL_S`"
    assert reference.unknown_env_names(text) == ["DRIFT_MINIMUM_ROWS", "SCORING_POLL_S"]


def test_a_renamed_cli_option_or_command_is_reported() -> None:
    text = (
        "```bash\npredmaint simulate --history-days 3 --out x --hours 2\npredmaint features fetch M001\n```"
    )
    assert reference.unknown_cli_options(text) == [
        "predmaint features fetch: no such command",
        "predmaint simulate --hours",
    ]


def test_a_renamed_route_is_reported() -> None:
    assert reference.unknown_routes("`POST /predict`, `GET /health/ready`, `POST /score`") == ["POST /score"]


def test_a_renamed_error_code_is_reported() -> None:
    table = "| 409 | `stale_features` | old |\n| 404 | `unknown_machine` / `no_such_machine` | renamed |\n"
    assert reference.unknown_error_codes(table) == ["no_such_machine"]
