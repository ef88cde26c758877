"""A benchmark result table and the small statistics every section uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[object]] = field(default_factory=list)
    note: str = ""

    def add(self, *row: object) -> None:
        self.rows.append(row)

    def markdown(self) -> str:
        def cell(v: object) -> str:
            if isinstance(v, float):
                return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
            return str(v)

        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "---|" * len(self.columns))
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"


def percentiles_us(samples_s: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of durations given in seconds, in microseconds."""
    arr = np.asarray(samples_s) * 1e6
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))
