"""``python -m drift [--host H] [--port P] [--log-level LEVEL]``: the sidecar, configured by its
``DRIFT_*`` environment, under ``service.http_server`` (header and body read deadlines). The
image's CMD."""

from drift.drift_service import create_app
from drift.settings import DriftSettings
from service.http_server import main

if __name__ == "__main__":
    main("python -m drift", DriftSettings, create_app)
