"""Scoring fixtures, shared with tests/unit/scoring."""

from tests.scoring_fixtures import bundle, client, row, settings

__all__ = ["bundle", "client", "row", "settings"]
