"""The report's gate section: each retrain's decision, one line per check, and its shadow figures.

The lines are the evaluate step's own (``aml.gate``): ``pass:``/``FAIL:`` checks, ``skipped:``
comparisons that had nothing to compare, ``info:`` figures.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence


def shadow_line(shadow: Mapping[str, object] | None) -> str:
    """One sentence of the shadow figures of a decision (``Decision.shadow`` as JSON)."""
    if not shadow:
        return "no shadow figures"
    rate = shadow.get("candidate_rate") or {}
    champ = shadow.get("champion_rate") or {}
    assert isinstance(rate, Mapping) and isinstance(champ, Mapping)
    parts = [
        f"shadow on the {shadow.get('source')} ({float(str(shadow.get('hours', 0))):.0f} h, "
        f"{shadow.get('windows')} windows): candidate {rate.get('alerts')} alerts "
        f"({float(str(rate.get('per_machine_month', 0))):.2f}/machine-month)"
    ]
    if champ:
        parts.append(f"champion {champ.get('alerts')} ({float(str(champ.get('per_machine_month', 0))):.2f})")
    signatures = int(str(shadow.get("signatures", 0)))
    if signatures:
        champ_replays = shadow.get("champion_replay_detected")
        parts.append(
            f"replayed fault signatures detected: candidate {shadow.get('candidate_replay_detected')}/"
            f"{signatures}"
            + (
                f", champion {champ_replays}/{signatures} at that flag rate"
                if champ_replays is not None
                else ""
            )
        )
    opened = shadow.get("open_machines") or []
    assert isinstance(opened, Sequence)
    parts.append(f"{len(opened)} machines with open failures or maintenance")
    return "; ".join(parts)


def gate_section(retrains: Sequence[Mapping[str, object]]) -> str:
    """HTML: the gate's decision of every retrain."""
    if not retrains:
        return "<h2>Gate</h2><p>No retrain ran.</p>"
    items = []
    for run in retrains:
        reasons = run.get("gate") or []
        assert isinstance(reasons, Sequence)
        verdict = "promoted" if run.get("promoted") else "kept the champion"
        items.append(
            f"<h3>v{html.escape(str(run.get('version')))}: {verdict}</h3>"
            f"<p>{html.escape(shadow_line(run.get('shadow')))}</p><ul>"  # type: ignore[arg-type]
            + "".join(f"<li>{html.escape(str(r))}</li>" for r in reasons)
            + "</ul>"
        )
    return "<h2>Gate</h2>" + "".join(items)
