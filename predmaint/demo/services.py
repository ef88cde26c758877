"""How the demo starts the facade (``predmaint serve``) and the drift sidecar (``predmaint drift
serve``): command line and environment, both on loopback, both on the demo's data directory."""

from __future__ import annotations

from pathlib import Path

from core.layout import DATA_DIR_ENV, DataLayout
from predmaint.demo.config import DemoConfig
from predmaint.demo.processes import ServiceSpec, free_port, python_module_argv


def _port(wanted: int, host: str) -> int:
    return wanted or free_port(host)


def scoring_spec(config: DemoConfig, layout: DataLayout) -> ServiceSpec:
    """The facade: serves the registry's champion, polls the champion every ``model_poll_s``."""
    port = _port(config.scoring_port, config.host)
    env = {
        DATA_DIR_ENV: str(layout.root),
        "SCORING_HOST": config.host,
        "SCORING_PORT": str(port),
        "SCORING_TRACKING_URI": layout.mlflow_tracking_uri,
        "SCORING_POLL_INTERVAL_S": str(config.model_poll_s),
        "SCORING_ONLINE_STORE": "sqlite",
        "SCORING_INFERENCE_LOG_DIR": str(layout.inference_log_dir),
        "SCORING_MODEL_CACHE_DIR": str(layout.root / "model-cache" / "scoring"),
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
    window = {}
    if config.drift_window_rows != defaults["window_rows"].default:
        window["DRIFT_WINDOW_ROWS"] = str(config.drift_window_rows)
    if config.drift_window_hours != defaults["window_hours"].default:
        window["DRIFT_WINDOW_HOURS"] = str(config.drift_window_hours)
    env = {
        DATA_DIR_ENV: str(layout.root),
        "DRIFT_HOST": config.host,
        "DRIFT_PORT": str(port),
        "DRIFT_TRACKING_URI": layout.mlflow_tracking_uri,
        "DRIFT_INFERENCE_LOG_DIR": str(layout.inference_log_dir),
        **window,
        "DRIFT_MACHINE_TYPES_PATH": str(write_machine_types(config, layout)),
        "DRIFT_CHECK_INTERVAL_S": str(config.wall_seconds(config.drift_check_hours)),
        "DRIFT_TAIL_INTERVAL_S": "0.2",
        "DRIFT_POLL_INTERVAL_S": str(config.model_poll_s),
        "MLFLOW_TRACKING_URI": layout.mlflow_tracking_uri,
        "DRIFT_MODEL_CACHE_DIR": str(layout.root / "model-cache" / "drift"),
    }
    argv = python_module_argv("predmaint", "drift", "serve", "--host", config.host, "--port", str(port))
    return ServiceSpec("drift", argv, config.host, port, env)
