"""Scoring fixtures, shared with tests/integration/scoring."""

from tests.scoring_fixtures import bundle, client, row, settings

__all__ = ["bundle", "client", "row", "settings"]
