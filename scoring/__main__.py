"""``python -m scoring [--host H] [--port P] [--log-level LEVEL]``: the facade, configured by its
``SCORING_*`` environment, under ``service.http_server`` (header and body read deadlines). The
image's CMD."""

from scoring.main import create_app
from scoring.settings import ScoringSettings
from service.http_server import main

if __name__ == "__main__":
    main("python -m scoring", ScoringSettings, create_app)
