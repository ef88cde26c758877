"""``python -m drift [--host H] [--port P] [--log-level LEVEL]``: the sidecar, configured by its
``DRIFT_*`` environment, under ``service.http_server`` (header and body read deadlines). The image's CMD."""

from __future__ import annotations

import argparse

from drift.drift_service import create_app
from drift.settings import DriftSettings
from service.http_server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m drift", description=__doc__)
    parser.add_argument("--host", help="bind address (overrides DRIFT_HOST)")
    parser.add_argument("--port", type=int, help="port (overrides DRIFT_PORT)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    args = parser.parse_args()
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = DriftSettings(**overrides)
    serve(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    main()
