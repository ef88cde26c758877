"""The demo's services read exactly the environment the demo writes: every variable is a field of the
service's settings class and parses back to the value the demo meant."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from core.layout import DataLayout
from drift.settings import DriftSettings
from predmaint.demo.config import DemoConfig
from predmaint.demo.services import drift_spec, scoring_spec
from predmaint.settings_env import UnknownSetting, settings_env
from scoring.settings import ScoringSettings

S = TypeVar("S", ScoringSettings, DriftSettings)


def _settings_from(env: Mapping[str, str], cls: type[S], monkeypatch: pytest.MonkeyPatch) -> S:
    """The settings the service builds at start-up from this environment (and nothing else)."""
    for key in list(os.environ):
        if key.startswith(("SCORING_", "DRIFT_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


def test_the_facade_reads_every_variable_the_demo_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = DataLayout(tmp_path / "demo")
    config = DemoConfig.model_validate({"data_dir": layout.root, "scoring_port": 8123, "model_poll_s": 0.7})
    spec = scoring_spec(config, layout)
    settings = _settings_from(spec.env, ScoringSettings, monkeypatch)
    assert (settings.host, settings.port) == (config.host, 8123) == (spec.host, spec.port)
    assert settings.tracking_uri == layout.mlflow_tracking_uri
    assert settings.poll_interval_s == 0.7 and settings.online_store == "sqlite"
    assert settings.inference_log_dir == layout.inference_log_dir
    assert settings.model_cache_dir == layout.root / "model-cache" / "scoring"


def test_the_sidecar_reads_every_variable_the_demo_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = DataLayout(tmp_path / "demo")
    config = DemoConfig.model_validate({"data_dir": layout.root, "drift_port": 8124, "machines": 10})
    spec = drift_spec(config, layout)
    settings = _settings_from(spec.env, DriftSettings, monkeypatch)
    assert (settings.host, settings.port) == (config.host, 8124)
    assert settings.tracking_uri == layout.mlflow_tracking_uri
    assert settings.inference_log_dir == layout.inference_log_dir
    assert settings.window_rows == config.drift_window_rows
    assert settings.check_interval_s == pytest.approx(config.wall_seconds(config.drift_check_hours))
    assert settings.machine_types_path is not None and Path(settings.machine_types_path).is_file()


def test_a_setting_the_class_does_not_have_is_refused() -> None:
    with pytest.raises(UnknownSetting, match="ScoringSettings has no setting 'poll_interval'"):
        settings_env(ScoringSettings, poll_interval=1.0)
    assert settings_env(ScoringSettings, log_enabled=False, api_key=None) == {"SCORING_LOG_ENABLED": "false"}
