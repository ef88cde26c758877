"""The facade's readiness checks (``service.health`` renders them): from state already held, never
a call made now.

- ``model`` (required): a model is loaded, so inline scoring works; ``state`` is the registry's last
  poll (``ok``, ``no_champion``, ``unreachable``, ``misconfigured``, ``error``), shown even while a
  loaded model serves.
- ``online_store`` (optional): the ``machine_id`` path and ``/ingest`` need it, inline scoring does
  not, so an unreachable store degrades the pod instead of taking it out of the Service (a facade
  configured without one, ``SCORING_ONLINE_STORE=none``, is not degraded).
- ``inference_log`` (optional): backlog, submitted, written and dropped records; dropped ones degrade.
"""

from __future__ import annotations

from collections.abc import Sequence

from scoring.state import ServiceState
from service.health import Check


def checks(state: ServiceState) -> Sequence[Check]:
    return (_model(state), _online_store(state), _inference_log(state))


def _model(state: ServiceState) -> Check:
    loaded, reason = state.backend.ready()
    info = state.backend.info()
    source = state.backend.source_status()
    poll = (source or {}).get("state")
    return Check(
        "model",
        ok=loaded,
        state=poll or ("ok" if loaded else "unavailable"),
        reason=reason,
        info={"loaded": loaded, "version": info.version, "backend": info.backend},
        private={"source": source},
    )


def _online_store(state: ServiceState) -> Check:
    reader = state.reader
    if reader is None:
        # the operator chose inline scoring only: nothing is missing, nothing to degrade
        return Check("online_store", ok=True, state="not_configured", required=False, info={"kind": "none"})
    if reader.state != "open":
        return Check(
            "online_store", ok=False, state=reader.state, required=False, reason=reader.error,
            info={"kind": reader.kind},
        )  # fmt: skip
    health, guard = reader.health, reader.guard  # the reader's last background check, its circuit
    ok = health.reachable and guard.state == "closed"
    return Check(
        "online_store",
        ok=ok,
        state="probing" if health.checked_at is None else "ok" if ok else "unreachable",
        required=False,
        reason=health.reason or (None if guard.state == "closed" else f"circuit_{guard.state}"),
        info={"kind": reader.kind, "circuit": guard.state, "in_flight": guard.in_flight},
        private={"checked_at": health.checked_at},
    )


def _inference_log(state: ServiceState) -> Check:
    writer = state.log_writer
    if writer is None:
        return Check("inference_log", ok=True, state="disabled", required=False)
    status = writer.status()  # written + dropped + pending = submitted, counted exactly
    dropped = status["dropped_records"]
    return Check(
        "inference_log",
        ok=not dropped,
        state="dropping" if dropped else "ok",
        required=False,
        reason=f"{dropped} records dropped (queue full or write failed)" if dropped else None,
        info=dict(status),
    )
