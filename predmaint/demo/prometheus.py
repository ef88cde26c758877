"""Real Prometheus and Alertmanager on loopback (``predmaint demo --prometheus``).

Prometheus scrapes the drift sidecar's ``/metrics`` and evaluates the chart's rule file
(``charts/pred-maint/files/drift-alert-rules.yaml``) with its ``for`` periods divided by the demo's
clock speed-up, as the embedded evaluator does; Alertmanager routes the alerts labelled
``action=retrain`` to the local trigger endpoint (``functions.local_endpoint``) as webhooks (version
4) and keeps the others (faults, sidecar down) to itself, like the Azure action group does.

The binaries are Debian's ``prometheus`` (2.42) and ``prometheus-alertmanager`` (0.25) packages, or
upstream's ``prometheus`` and ``alertmanager`` on PATH. Generated configs and the TSDB live in the
demo's data directory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from drift.alert_rule import RULES_PATH, parse_duration
from predmaint.demo.processes import ServiceSpec, free_port

PROMETHEUS_BINARIES: Final = ("prometheus",)
ALERTMANAGER_BINARIES: Final = ("prometheus-alertmanager", "alertmanager")
INSTALL_HINT: Final = "apt-get install prometheus prometheus-alertmanager (Debian/Ubuntu)"
READY_PATH: Final = "/-/ready"
DRIFT_JOB: Final = "pred-maint-drift"
RETRAIN_RECEIVER: Final = "retrain"
LOOP_INTERVAL: Final = "1s"
"""Scrape and rule evaluation interval on the demo's clock: one simulated hour a second at most."""


class PrometheusMissing(Exception):
    """prometheus or alertmanager is not installed."""


@dataclass(frozen=True)
class Binaries:
    prometheus: str
    alertmanager: str


def find_binaries() -> Binaries:
    """Both binaries, or :class:`PrometheusMissing` naming what is missing and how to install it."""
    found = {
        "prometheus": next(filter(None, map(shutil.which, PROMETHEUS_BINARIES)), None),
        "alertmanager": next(filter(None, map(shutil.which, ALERTMANAGER_BINARIES)), None),
    }
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise PrometheusMissing(f"{' and '.join(missing)} not found on PATH; install with: {INSTALL_HINT}")
    return Binaries(prometheus=str(found["prometheus"]), alertmanager=str(found["alertmanager"]))


def format_duration(seconds: float) -> str:
    """A Prometheus duration in whole milliseconds (at least 1 ms): ``250ms``, ``2s``."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scaled_rules(time_scale: float, path: Path = RULES_PATH, interval: str = LOOP_INTERVAL) -> dict[str, Any]:
    """The rule file with every ``for`` divided by ``time_scale`` and each group evaluated every
    ``interval``: the rules as they behave in production, on the demo's accelerated clock."""
    if time_scale <= 0:
        raise ValueError("time_scale must be > 0")
    document = yaml.safe_load(path.read_text())
    for group in document["groups"]:
        group["interval"] = interval
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = format_duration(parse_duration(rule["for"]) / time_scale)
    return dict(document)


def prometheus_config(
    drift_target: str, alertmanager_target: str, rule_file: Path, interval: str = LOOP_INTERVAL
) -> dict[str, Any]:
    """Scrape the sidecar (``host:port``), evaluate ``rule_file``, send alerts to Alertmanager."""
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(rule_file)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_target]}]}]},
        "scrape_configs": [
            {
                "job_name": DRIFT_JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [drift_target]}],
            }
        ],
    }


def alertmanager_config(webhook_url: str, group_wait: str = LOOP_INTERVAL) -> dict[str, Any]:
    """Alerts labelled ``action=retrain`` go to ``webhook_url`` (fired and resolved); the others stay
    in Alertmanager (its UI and API). ``repeat_interval`` is Alertmanager's default: the trigger's
    idempotency, not routing, is what keeps a repeat from starting a second run."""
    return {
        "route": {
            "receiver": "keep",
            "group_by": ["alertname"],
            "group_wait": group_wait,
            "group_interval": group_wait,
            "repeat_interval": "4h",
            "routes": [{"receiver": RETRAIN_RECEIVER, "matchers": ['action="retrain"']}],
        },
        "receivers": [
            {"name": "keep"},
            {
                "name": RETRAIN_RECEIVER,
                "webhook_configs": [{"url": webhook_url, "send_resolved": True, "max_alerts": 0}],
            },
        ],
    }


@dataclass(frozen=True)
class PrometheusStack:
    """The two services' specs and their generated files under ``state_dir``."""

    prometheus: ServiceSpec
    alertmanager: ServiceSpec
    prometheus_config: Path
    alertmanager_config: Path
    rules: Path

    @property
    def specs(self) -> list[ServiceSpec]:
        """Start order: Alertmanager first, so Prometheus' first alert has somewhere to go."""
        return [self.alertmanager, self.prometheus]


def prepare_stack(
    state_dir: Path,
    *,
    drift_target: str,
    webhook_url: str,
    time_scale: float,
    host: str = "127.0.0.1",
    binaries: Binaries | None = None,
    rules_path: Path = RULES_PATH,
) -> PrometheusStack:
    """Write the configs into ``state_dir`` and return how to start both services on loopback."""
    binaries = binaries or find_binaries()
    state_dir.mkdir(parents=True, exist_ok=True)
    prom_port, am_port = free_port(host), free_port(host)
    rules = state_dir / "drift-alert-rules.yaml"
    rules.write_text(yaml.safe_dump(scaled_rules(time_scale, rules_path), sort_keys=False))
    prom_file = state_dir / "prometheus.yml"
    prom_file.write_text(yaml.safe_dump(prometheus_config(drift_target, f"{host}:{am_port}", rules)))
    am_file = state_dir / "alertmanager.yml"
    am_file.write_text(yaml.safe_dump(alertmanager_config(webhook_url), sort_keys=False))
    prometheus = ServiceSpec(
        "prometheus",
        [
            binaries.prometheus,
            f"--config.file={prom_file}",
            f"--storage.tsdb.path={state_dir / 'tsdb'}",
            f"--web.listen-address={host}:{prom_port}",
            f"--web.external-url=http://{host}:{prom_port}",
        ],
        host,
        prom_port,
        ready_path=READY_PATH,
    )
    alertmanager = ServiceSpec(
        "alertmanager",
        [
            binaries.alertmanager,
            f"--config.file={am_file}",
            f"--storage.path={state_dir / 'alertmanager'}",
            f"--web.listen-address={host}:{am_port}",
            "--cluster.listen-address=",  # no gossip port on 0.0.0.0: a single local instance
        ],
        host,
        am_port,
        ready_path=READY_PATH,
    )
    return PrometheusStack(prometheus, alertmanager, prom_file, am_file, rules)
