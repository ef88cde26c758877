"""Settings fail fast on nonsense; the CLI turns that into a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from scoring.settings import ScoringSettings


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api_key": "changeme"}, "placeholder"),
        ({"api_key": "short-key"}, "at least 16"),
        ({"online_store": "redis"}, "needs SCORING_REDIS_URL"),
        ({"online_store": "redis", "redis_url": "http://x:6379"}, "redis://"),
        ({"backend": "aml-endpoint"}, "needs SCORING_ENDPOINT_URL"),
        ({"backend": "aml-endpoint", "endpoint_url": "https://e/score"}, "ENDPOINT_KEY or"),
        (
            {
                "backend": "aml-endpoint",
                "endpoint_url": "https://e/score",
                "endpoint_key": SecretStr("a-real-looking-key-123"),
                "endpoint_timeout_s": 3.0,
                "endpoint_request_timeout_ms": 3000,
            },
            "below the endpoint's request_timeout_ms",
        ),
        ({"poll_interval_s": 0}, "greater than 0"),
        ({"log_queue_size": 0}, "greater than or equal to 1"),
        ({"port": 70000}, "less than or equal to 65535"),
        ({"feast_registry": "/nonexistent/registry.db"}, "SCORING_FEAST_REGISTRY: no registry file"),
    ],
)
def test_nonsense_is_refused_at_start(values: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScoringSettings(**values)


def test_environment_is_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCORING_ONLINE_STORE", "redis")
    monkeypatch.setenv("SCORING_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("SCORING_INFERENCE_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("SCORING_POLL_INTERVAL_S", "2.5")
    settings = ScoringSettings()
    assert settings.online_store == "redis" and settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.resolved_log_dir() == tmp_path and settings.poll_interval_s == 2.5


def test_serve_reports_bad_settings_without_a_stack_trace(tmp_path: Path) -> None:
    from predmaint.cli import app

    result = CliRunner().invoke(app, ["serve", "--online", "redis"])
    assert result.exit_code == 2
    assert "SCORING_ONLINE_STORE=redis needs SCORING_REDIS_URL" in result.output
    result = CliRunner().invoke(app, ["serve", "--model-path", str(tmp_path)])
    assert result.exit_code == 2 and "not a" in result.output and "model bundle" in result.output
