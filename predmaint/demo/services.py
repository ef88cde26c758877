"""How the demo starts the facade (``predmaint serve``) and the drift sidecar (``predmaint drift
serve``): command line and environment, both on loopback, both on the demo's data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from core.layout import DATA_DIR_ENV, DataLayout
from core.registry import TRACKING_URI_ENV
from predmaint.demo.config import DemoConfig
from predmaint.demo.processes import ServiceSpec, free_port, python_module_argv
from predmaint.settings_env import settings_env

DRIFT_TAIL_INTERVAL_S: Final = 0.2
"""The accelerated clock: the sidecar reads the log five times a (wall) second."""


DEMO_STORE_TIMEOUT_S: Final = 5.0
"""The facade's online-store bound in the demo (``SCORING_STORE_TIMEOUT_S``, production 0.5 s)."""


def shadow_handover(layout: DataLayout) -> Path:
    """Where the demo puts a retrain's candidate for the facade to shadow (``SCORING_SHADOW_MODEL_PATH``)."""
    return layout.root / "shadow-candidate"


def _port(wanted: int, host: str) -> int:
    return wanted or free_port(host)


def scoring_spec(config: DemoConfig, layout: DataLayout) -> ServiceSpec:
    """The facade: serves the registry's champion, polls the champion every ``model_poll_s``."""
    from scoring.settings import ScoringSettings

    port = _port(config.scoring_port, config.host)
    env = {
        DATA_DIR_ENV: str(layout.root),
        **settings_env(
            ScoringSettings,
            host=config.host,
            port=port,
            tracking_uri=layout.mlflow_tracking_uri,
            poll_interval_s=config.model_poll_s,
            online_store="sqlite",
            inference_log_dir=layout.inference_log_dir,
            model_cache_dir=layout.root / "model-cache" / "scoring",
            # the accelerated clock runs up to the whole live phase ahead of the wall clock
            ingest_max_clock_skew_s=(config.live_hours + config.tail_hours + 1.0) * 3600.0,
            # the retrain's candidate is handed over here for its shadow period (demo.alerting)
            shadow_model_path=shadow_handover(layout),
            # SQLite on the cores the pipeline, the sidecar and the client share: the production
            # bound (Redis, its own host) answers 503 whenever a training step holds the CPU
            store_timeout_s=DEMO_STORE_TIMEOUT_S,
        ),
    }
    argv = python_module_argv("predmaint", "serve", "--host", config.host, "--port", str(port))
    return ServiceSpec("scoring", argv, config.host, port, env)


def write_machine_types(config: DemoConfig, layout: DataLayout) -> Path:
    """``machine_id, machine_type`` of the demo's fleet, for the sidecar's per-type signals."""
    from simulator.machines import FleetProfiles

    profiles = FleetProfiles.sample(config.seed, config.machines)
    path = layout.root / "drift" / "machine-types.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["machine_id,machine_type"]
    lines += [f"{m},{t}" for m, t in zip(profiles.machine_ids, profiles.types, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def drift_spec(config: DemoConfig, layout: DataLayout) -> ServiceSpec:
    """The drift sidecar: tails the facade's inference log, compares against the champion's reference.

    Its drift settings are the sidecar's defaults (calibrated thresholds, sustained verdict); only the
    window follows the fleet's size when it is not the default fleet (one day of hourly rows), and the
    check interval follows the accelerated clock."""
    from drift.settings import DriftSettings

    defaults = DriftSettings.model_fields
    port = _port(config.drift_port, config.host)
    window = {
        name: value
        for name, value in (
            ("window_rows", config.drift_window_rows),
            ("window_hours", config.drift_window_hours),
        )
        if value != defaults[name].default
    }
    env = {
        DATA_DIR_ENV: str(layout.root),
        TRACKING_URI_ENV: layout.mlflow_tracking_uri,
        **settings_env(
            DriftSettings,
            host=config.host,
            port=port,
            tracking_uri=layout.mlflow_tracking_uri,
            inference_log_dir=layout.inference_log_dir,
            **window,
            machine_types_path=write_machine_types(config, layout),
            check_interval_s=config.wall_seconds(config.drift_check_hours),
            tail_interval_s=DRIFT_TAIL_INTERVAL_S,
            poll_interval_s=config.model_poll_s,
            model_cache_dir=layout.root / "model-cache" / "drift",
        ),
    }
    argv = python_module_argv("predmaint", "drift", "serve", "--host", config.host, "--port", str(port))
    return ServiceSpec("drift", argv, config.host, port, env)
