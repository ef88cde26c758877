"""Live telemetry on an accelerated clock: sim time runs ``speedup`` times faster than wall time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd

from simulator.fleet import FleetSimulator


def stream_readings(
    sim: FleetSimulator,
    start: datetime,
    speedup: float,
    batch_seconds: float,
    *,
    end: datetime | None = None,
    realtime: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[datetime, pd.DataFrame]]:
    """Yield ``(sim_time, readings)`` batch after batch, forever or until ``end`` (sim time).

    Each batch holds the readings in ``[previous sim_time, sim_time)``, a span of
    ``speedup * batch_seconds`` simulated seconds, and may be empty (e.g. while machines are down).
    With ``realtime`` the generator waits until a batch's wall-clock moment has come (on a fixed
    schedule, so slow consumers do not make the clock drift); without it, batches come at once,
    which is what tests want. ``sim.readings_between`` makes the stream continue a history exactly.
    """
    if speedup <= 0 or batch_seconds <= 0:
        raise ValueError("speedup and batch_seconds must be positive")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    step = timedelta(seconds=speedup * batch_seconds)
    t = start.astimezone(UTC)
    wall0 = clock()
    batch = 0
    while end is None or t < end:
        t_next = t + step if end is None else min(t + step, end)
        batch += 1
        if realtime:
            wait = wall0 + batch * batch_seconds - clock()
            if wait > 0:
                sleep(wait)
        yield t_next, sim.readings_between(t, t_next)
        t = t_next
