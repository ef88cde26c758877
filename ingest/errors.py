"""Errors of the ingest workers, under the features' error root (:class:`features.errors.FeaturesError`)."""

from __future__ import annotations

from features.errors import FeaturesError


class IngestError(FeaturesError):
    """Base of the ingest workers' errors."""

    code = "ingest_error"


class OfflineWriteConflict(IngestError):
    """A day file kept changing under this writer; the batch stays unchecked and will be replayed."""

    status = 503
    code = "offline_write_conflict"

    def __init__(self, blob: str, attempts: int) -> None:
        super().__init__(f"{blob}: still conflicting after {attempts} attempts")
        self.blob = blob
        self.attempts = attempts


class EventHubsUnavailable(IngestError):
    """Event Hubs did not accept a batch (nothing of it was acknowledged to the client): retry."""

    status = 503
    code = "event_hubs_unavailable"
    hint = "the readings were not accepted; send them again"
