"""Sustained drift: k of the last n *steps* drifted, and the expected time between false alarms.

A single check can be a false alarm with the calibrated probability ``p``. The alert's input is the
sustained verdict instead: a step is one check whose window has been renewed since the previous step
(at least ``step_rows`` new rows, by default the whole window, so successive steps compare disjoint
windows), and the verdict is on while at least ``k`` of the last ``n`` steps drifted.

Run length under no drift (ARL0, steps until the first alarm), with steps independent and each a false
alarm with probability ``p``: computed exactly by :func:`arl0` from the Markov chain of the last
``n - 1`` outcomes. For the defaults (``k = n = 2``, ``p = 0.01``) it is ``(1 + p) / p^2`` = 10,100
steps; with one-day windows, about 28 years. Steps on overlapping windows (``step_rows`` below the
window) are positively dependent, which shortens the run length towards ``1 / p`` steps: keep the
step at the window when the statement matters.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Final

import numpy as np
from pydantic import BaseModel

DEFAULT_K: Final = 2
DEFAULT_N: Final = 2


def arl0(p: float, k: int, n: int) -> float:
    """Expected steps until k of the last n independent Bernoulli(p) steps are 1 (first alarm)."""
    if not 1 <= k <= n:
        raise ValueError("need 1 <= k <= n")
    if p <= 0:
        return float("inf")
    if n == 1:
        return 1.0 / p
    # States: the last n-1 outcomes with fewer than k ones that could still be completed; the alarm
    # is absorbing. Expected time to absorption solves (I - Q) t = 1.
    states = [s for s in itertools.product((0, 1), repeat=n - 1) if sum(s) < k]
    index = {s: i for i, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    for s, i in index.items():
        for bit, prob in ((0, 1.0 - p), (1, p)):
            if sum(s) + bit >= k:
                continue  # alarm
            nxt = (*s[1:], bit)
            q[i, index[nxt]] += prob
    t = np.linalg.solve(np.eye(len(states)) - q, np.ones(len(states)))
    return float(t[index[tuple([0] * (n - 1))]])


class SequentialState(BaseModel):
    """What ``/drift`` reports about the sustained verdict."""

    detected: bool
    k: int
    n: int
    recent: list[bool]
    """Verdicts of the last steps, oldest first."""
    steps_total: int
    step_rows: int
    arl0_steps: float
    """Expected steps between false alarms under no drift (independent steps, see module doc)."""


class KOfN:
    """The sustained verdict over successive steps. Not thread-safe (the monitor holds a lock)."""

    def __init__(self, k: int = DEFAULT_K, n: int = DEFAULT_N) -> None:
        if not 1 <= k <= n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        self.k, self.n = k, n
        self._recent: deque[bool] = deque(maxlen=n)
        self.steps_total = 0

    def step(self, drifted: bool) -> bool:
        self._recent.append(drifted)
        self.steps_total += 1
        return self.detected

    @property
    def detected(self) -> bool:
        return sum(self._recent) >= self.k

    def reset(self) -> None:
        self._recent.clear()

    def state(self, p: float, step_rows: int) -> SequentialState:
        return SequentialState(
            detected=self.detected,
            k=self.k,
            n=self.n,
            recent=list(self._recent),
            steps_total=self.steps_total,
            step_rows=step_rows,
            arl0_steps=arl0(p, self.k, self.n),
        )
