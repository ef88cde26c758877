"""Counter-style seeding: every random draw is keyed by (seed, purpose, machine, chunk).

Because a machine's noise for a time chunk comes from its own ``SeedSequence``, any interval can be
regenerated on its own and equals the same interval of a longer run; machine ``M007`` is the same
machine whether the fleet has 10 or 500 members.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Purpose(IntEnum):
    profile = 0
    """A machine's fixed traits (type, baseline, phases)."""
    failures = 1
    """A machine's sequence of failure events."""
    noise = 2
    """Per-reading noise of one machine in one time chunk."""
    drift = 3
    """The magnitude of a fleet-wide drift scenario."""
    fleet = 4
    """Fleet-wide weather (slow ambient temperature swings)."""
    failure_detail = 5
    """Extra draws of one failure event (keyed by machine and event number), beside the main
    failure stream so that adding a draw does not move any other event."""


def rng_for(seed: int, purpose: Purpose, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(purpose), *key)))
