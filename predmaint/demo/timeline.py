"""The events of one demo run, on both clocks: simulated time and wall seconds since the start."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    history = "history"
    champion = "champion"
    services = "services"
    warm_up = "warm-up"
    drift_onset = "drift onset"
    detection = "drift detected"
    alert = "alert firing"
    alert_resolved = "alert resolved"
    retrain_triggered = "retrain triggered"
    retrain_start = "retrain start"
    shadow_start = "shadow start"
    shadow_end = "shadow end"
    retrain_end = "retrain end"
    retrain_skipped = "retrain skipped"
    promotion = "promotion"
    swap = "facade swap"
    recovery = "recovery"
    failure = "failure"
    first_alert = "first alert"
    missed_failure = "missed failure"
    error = "error"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    sim_time: datetime | None
    wall_s: float
    """Wall seconds since the demo started."""
    detail: str = ""
    machine_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = self.kind.value
        out["sim_time"] = self.sim_time.isoformat() if self.sim_time else None
        return out


class Timeline:
    """Append-only, thread-safe (the retrain runs beside the live loop)."""

    def __init__(self, clock: Any = time.monotonic, on_add: Callable[[Event], None] | None = None) -> None:
        """``on_add`` is called with every event as it is added (the demo prints them)."""
        self._clock = clock
        self._on_add = on_add
        self._t0 = clock()
        self._events: list[Event] = []
        self._lock = threading.Lock()

    @property
    def elapsed_s(self) -> float:
        return float(self._clock() - self._t0)

    def add(
        self,
        kind: EventKind,
        sim_time: datetime | None,
        detail: str = "",
        machine_id: str | None = None,
        wall_s: float | None = None,
    ) -> Event:
        event = Event(kind, sim_time, self.elapsed_s if wall_s is None else wall_s, detail, machine_id)
        with self._lock:
            self._events.append(event)
        if self._on_add is not None:
            self._on_add(event)
        return event

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return sorted(self._events, key=_order)

    def of(self, kind: EventKind) -> list[Event]:
        return [e for e in self.events if e.kind is kind]

    def first(self, kind: EventKind) -> Event | None:
        found = self.of(kind)
        return found[0] if found else None

    def lines(self) -> list[str]:
        """One line per event, as printed at the end of a run."""
        out = []
        for e in self.events:
            sim = e.sim_time.strftime("%Y-%m-%d %H:%M") if e.sim_time else " " * 16
            who = f" [{e.machine_id}]" if e.machine_id else ""
            out.append(f"{e.wall_s:7.1f}s  {sim}  {e.kind.value:<16}{who} {e.detail}".rstrip())
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.events]


def _order(event: Event) -> tuple[float, float]:
    # simulated order first (failures are added after the fact with their own sim time)
    sim = event.sim_time.timestamp() if event.sim_time else float("-inf")
    return (sim, event.wall_s)
