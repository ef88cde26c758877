"""Health answers with one shape in every service, and the readiness hook.

``GET /health/live`` and ``GET /health/ready`` both answer::

    {"status": "live" | "ready" | "degraded" | "not_ready", "service": "scoring" | "drift",
     "checks": {"<name>": {"ok": bool, "required": bool, "state": "...", "reason": str | null, ...}}}

Liveness has no checks: it answers from the event loop, touching no dependency and no thread pool,
so a busy or a dependency-starved pod is not restarted. Readiness is ``not_ready`` (503) when a
required check fails, ``degraded`` (200) when only optional ones do (the facade without its online
store still scores inline rows), else ``ready``.

The hook: a service passes ``readiness``, a function that returns its :class:`Check` list from
state it already holds (the dependency's state from its last check, never a call made now), so
readiness stays fast whatever its dependencies do. :class:`BackgroundProbe` turns a blocking probe
into such state. ``reason`` and ``private`` fields may name hosts or carry exception text: only
trusted callers (``service.auth``) see them; others see ``state`` only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.auth import ApiKey
from service.errors import json_response

Status = Literal["live", "ready", "degraded", "not_ready"]
LIVE_PATH: Final = "/health/live"
READY_PATH: Final = "/health/ready"


@dataclass(frozen=True)
class Check:
    """One dependency or component as readiness reports it."""

    name: str
    ok: bool
    state: str
    """A stable word for what was found (``ok``, ``opening``, ``unreachable``, ``no_champion``, ...)."""
    required: bool = True
    """A failing required check makes the pod not ready; an optional one only degrades it."""
    reason: str | None = None
    """Free text (may name a host): trusted callers only."""
    info: Mapping[str, Any] = field(default_factory=dict)
    """Public facts (a model version, a backlog): no hosts, no secrets."""
    private: Mapping[str, Any] = field(default_factory=dict)
    """Facts that may name internal hosts or paths: trusted callers only."""

    def render(self, trusted: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "required": self.required,
            "state": self.state,
            "reason": self.reason if trusted else None,
            **self.info,
        }
        if trusted:
            out.update(self.private)
        return out


Readiness = Callable[[], Sequence[Check]]


def report(service: str, status: Status, checks: Sequence[Check], trusted: bool) -> dict[str, Any]:
    return {
        "status": status,
        "service": service,
        "checks": {check.name: check.render(trusted) for check in checks},
    }


def readiness_status(checks: Sequence[Check]) -> Status:
    if any(not c.ok and c.required for c in checks):
        return "not_ready"
    if any(not c.ok for c in checks):
        return "degraded"
    return "ready"


def health_router(service: str, readiness: Readiness, api_key: ApiKey) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(LIVE_PATH, summary="The process answers (no dependency is consulted)")
    async def live() -> Response:
        return json_response(report(service, "live", (), trusted=False))

    @router.get(
        READY_PATH,
        summary="Ready to serve: 200 ready or degraded, 503 not_ready; each check's state",
    )
    async def ready(request: Request) -> Response:
        checks = readiness()
        status = readiness_status(checks)
        trusted = api_key.accepts(request.scope["headers"])
        return json_response(report(service, status, checks, trusted), 503 if status == "not_ready" else 200)

    return router


class BackgroundProbe:
    """The last result of a blocking probe, refreshed in its own thread (never the request pool).

    ``result()`` answers at once with the latest ``(ok, reason)``, starting a new probe when that one
    is older than ``interval_s`` and none is running. Until the first probe ends ``ok`` is None."""

    def __init__(self, probe: Callable[[], tuple[bool, str | None]], interval_s: float, name: str) -> None:
        self._probe = probe
        self._interval_s = interval_s
        self._name = name
        self._lock = threading.Lock()
        self._last: tuple[float, bool | None, str | None] = (float("-inf"), None, "not probed yet")
        self._running = False

    def result(self) -> tuple[bool | None, str | None]:
        with self._lock:
            taken, ok, reason = self._last
            if not self._running and time.monotonic() - taken >= self._interval_s:
                self._running = True
                threading.Thread(target=self._run, name=f"probe-{self._name}", daemon=True).start()
        return ok, reason

    def _run(self) -> None:
        try:
            ok, reason = self._probe()
        except Exception as exc:  # a probe that raises reports what it raised
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._last = (time.monotonic(), ok, reason)
            self._running = False
