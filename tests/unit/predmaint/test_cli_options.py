"""The options several commands share: Redis never has a silent default URL, passwords are not
printed, one ``--format`` convention with the old spellings as hidden aliases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from predmaint.cli import app
from predmaint.options import redacted

runner = CliRunner()


def test_online_redis_without_a_url_stops_and_says_which_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_CONNECTION_STRING", raising=False)
    result = runner.invoke(app, ["features", "get", "M001", "--online", "redis", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--online redis needs --redis-url" in result.output and "Traceback" not in result.output


def test_serve_online_redis_without_a_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCORING_REDIS_URL", raising=False)
    result = runner.invoke(app, ["serve", "--online", "redis"])
    assert result.exit_code == 2
    assert "SCORING_REDIS_URL" in result.output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:not-a-real-key@cache:6380/0", "redis://:***@cache:6380/0"),
        (
            "rediss://default:not-a-real-key@cache.redis.cache.windows.net:6380",
            "rediss://default:***@cache.redis.cache.windows.net:6380",
        ),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("cache:6380,password=not-a-real-key,ssl=true", "cache:6380,ssl=true"),
    ],
)
def test_printed_redis_urls_never_carry_the_password(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert "not-a-real-key" not in redacted(url)


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    pd.DataFrame({"a": rng.normal(0, 1, 400), "b": rng.normal(5, 1, 400)}).to_csv(ref, index=False)
    pd.DataFrame({"a": rng.normal(3, 1, 200), "b": rng.normal(5, 1, 200)}).to_csv(cur, index=False)
    return ref, cur


@pytest.mark.parametrize("flags", [["--format", "json"], ["--json"]], ids=["format", "deprecated"])
def test_drift_compare_prints_json_with_either_spelling(
    two_files: tuple[Path, Path], flags: list[str]
) -> None:
    ref, cur = two_files
    result = runner.invoke(app, ["drift", "compare", str(ref), str(cur), "--fixed", *flags])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["columns"]["a"]["drifted"] is True and answer["columns"]["b"]["drifted"] is False


def test_drift_compare_prints_markdown(two_files: tuple[Path, Path]) -> None:
    ref, cur = two_files
    result = runner.invoke(app, ["drift", "compare", str(ref), str(cur), "--fixed", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "| a |" in result.stdout and "drift_detected: true" in result.stdout
