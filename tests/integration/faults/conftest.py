"""Fault-suite fixtures: the scoring test bundle (built once per session)."""

from tests.scoring_fixtures import bundle, row

__all__ = ["bundle", "row"]
