"""Azure Monitor OpenTelemetry for a service: on only when a connection string is set, configured
once per process (the exporter installs global providers; a second call would duplicate them)."""

from __future__ import annotations

import threading

from pydantic import SecretStr

_lock = threading.Lock()
_configured = False


def configure_telemetry(connection_string: SecretStr | None, logger_name: str) -> bool:
    """Configure the exporter for this process; True when this call did it."""
    global _configured
    if connection_string is None:
        return False
    with _lock:
        if _configured:
            return False
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(
            connection_string=connection_string.get_secret_value(), logger_name=logger_name
        )
        _configured = True
        return True
