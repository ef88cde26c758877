"""``predmaint ingest machines`` refuses a registry that breaks a rule with one line naming the column
and the rule, before it connects to any storage account (none is reachable here: the URL is bogus)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from predmaint.cli import app

URL = "https://nowhere.invalid"


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        ("machine_id,type\nm-1,pump\n", "no column 'machine_type' (required)"),
        ("machine_id,machine_type\nm-1,pump\nm-1,fan\n", "machine_id 'm-1' has more than one row (unique)"),
        ("machine_id,machine_type\nm 1,pump\n", "does not match"),
        ("machine_id,machine_type\nm-1,\n", "machine_type is empty in row 0 (required)"),
    ],
)
def test_a_broken_registry_is_refused_with_its_rule(tmp_path: Path, csv: str, expected: str) -> None:
    registry = tmp_path / "machines.csv"
    registry.write_text(csv)
    result = CliRunner().invoke(app, ["ingest", "machines", str(registry), "--account-url", URL])
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_no_account_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGEST_OFFLINE_ACCOUNT_URL", raising=False)
    monkeypatch.delenv("INGEST_OFFLINE_CONNECTION_STRING", raising=False)
    registry = tmp_path / "machines.csv"
    registry.write_text("machine_id,machine_type\nm-1,pump\n")
    result = CliRunner().invoke(app, ["ingest", "machines", str(registry)])
    assert result.exit_code == 2 and "no storage account" in result.output
