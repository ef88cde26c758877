"""What one demo run does: fleet size, history, the accelerated clock, the drift scenario, ports.

Simulated durations are in simulated hours; the alert's ``for`` period and the retrain cooldown are
given on the simulated clock too and converted to wall seconds with :attr:`DemoConfig.speedup`, so
the alert rule behaves as it would in production, only faster.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class Preset(StrEnum):
    small = "small"
    full = "full"


class DemoConfig(BaseModel):
    """Everything one run needs. Build with :meth:`preset`, then override single fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # fleet and history
    machines: int = Field(50, ge=4, le=500, description="machines in the fleet")
    history_days: float = Field(30.0, gt=1.0, le=365.0, description="simulated history before live")
    seed: int = 0
    failures_per_machine_month: float = Field(
        1.0,
        ge=0,
        description="failure hazard of the simulator (higher than its default: a short live "
        "phase should see failures)",
    )

    # live phase on the accelerated clock
    speedup: float = Field(
        3600.0, gt=0, description="simulated seconds per wall second (3600: one hour a second)"
    )
    live_hours: float = Field(168.0, gt=1.0, description="longest live phase, simulated hours")
    retrain_hour_s: float = Field(
        5.0, gt=0, description="wall seconds per simulated hour while the (not accelerated) pipeline runs"
    )
    tail_hours: float = Field(
        12.0, ge=0, description="simulated hours to keep streaming after recovery, then stop early"
    )

    # drift
    drift: str = Field("high_speed_regime", description="simulator.scenarios.DriftScenario name")
    drift_onset_hours: float = Field(24.0, gt=0, description="drift onset after live start, simulated h")

    # retrain (simulated clock; the alert's `for` comes from the rule file, scaled by speedup)
    cooldown_hours: float = Field(
        24.0,
        ge=0,
        description="at most one pipeline run per cooldown (the trigger counts it in wall time, scaled "
        "by speedup); the first training counts too, so it must end before the drift alert",
    )
    retrain_data_hours: float = Field(
        36.0, gt=2.0, description="the retrain uses this many hours of telemetry after the alert"
    )
    shadow_hours: float = Field(
        12.0,
        ge=0,
        description="before the gate, the candidate shadows live traffic for this many hours (the "
        "facade scores every request with it too, logged, not served); the gate compares on that "
        "traffic. 0: the gate compares on the held-back slice",
    )
    retrain_holdout_fraction: float = Field(
        1 / 3,
        gt=0.05,
        lt=0.9,
        description="the later part held back to evaluate the candidate; the rest (a whole day by "
        "default: machines run daily load cycles) trains it and becomes its drift reference",
    )

    # drift sidecar
    drift_window_hours: float = Field(
        24.0, gt=0, description="the sidecar's sliding window: this many hours of the fleet's scored rows"
    )
    drift_check_hours: float = Field(1.0, gt=0, description="sidecar checks once per this many simulated h")

    # alerting
    prometheus: bool = Field(
        False,
        description="evaluate the alert rule with real Prometheus and Alertmanager (installed "
        "binaries) instead of the embedded evaluator",
    )

    # services
    host: str = "127.0.0.1"
    scoring_port: int = Field(0, ge=0, le=65535, description="0: any free port")
    drift_port: int = Field(0, ge=0, le=65535, description="0: any free port")
    model_poll_s: float = Field(0.5, gt=0, description="facade checks the champion this often")
    ready_timeout_s: float = Field(120.0, gt=0)
    stop_timeout_s: float = Field(10.0, gt=0)
    pipeline_timeout_s: float = Field(
        900.0, gt=0, description="longest wait for a running retrain at the end"
    )

    history_ends: AwareDatetime | None = Field(
        None,
        description="where the history ends and the live phase starts (a whole UTC hour, not in the "
        "past); default: the current hour. The live phase runs ahead of the wall clock, so the "
        "facade's freshness check against wall-clock now always passes",
    )

    # where
    data_dir: Path = Path(".predmaint/demo")
    keep_data: bool = Field(False, description="reuse the data dir instead of starting clean")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.drift_onset_hours >= self.live_hours:
            raise ValueError("drift_onset_hours must fall inside the live phase (live_hours)")
        if self.history_ends is not None:
            end = self.history_ends
            if (end.minute, end.second, end.microsecond) != (0, 0, 0):
                raise ValueError("history_ends must be a whole hour")
            if end < datetime.now(UTC) - timedelta(hours=1):
                raise ValueError("history_ends must not lie in the past: live features would be stale")
        if self.scoring_port and self.scoring_port == self.drift_port:
            raise ValueError("scoring_port and drift_port must differ")
        return self

    @classmethod
    def preset(cls, name: Preset | str, **overrides: object) -> DemoConfig:
        """A named configuration with ``overrides`` (None values are ignored)."""
        base = dict(_PRESETS[Preset(name)])
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(base)

    # simulated <-> wall clock

    def wall_seconds(self, sim_hours: float) -> float:
        """Wall seconds that ``sim_hours`` simulated hours take on the accelerated clock."""
        return sim_hours * 3600.0 / self.speedup

    @property
    def drift_window_rows(self) -> int:
        """Rows in the sidecar's window: one per machine per simulated hour."""
        return max(50, round(self.machines * self.drift_window_hours))

    @property
    def cooldown_s(self) -> float:
        """The retrain cooldown in wall seconds."""
        return self.wall_seconds(self.cooldown_hours)


_PRESETS: dict[Preset, dict[str, object]] = {
    Preset.full: {},
    Preset.small: {
        "machines": 30,
        "history_days": 10.0,
        "live_hours": 120.0,
        "tail_hours": 8.0,
        "drift_onset_hours": 6.0,
    },
}
