"""Schemathesis operations driven with Hypothesis directly (its pytest plugin cannot resolve a
fixture-based schema on this pytest version): one helper for the in-process and the over-HTTP runs."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode


def fuzz_operation(operation: Any, mode: GenerationMode, examples: int, seen: set[int], **call: Any) -> None:
    """Up to ``examples`` derandomized cases of ``operation`` in ``mode``, each answer checked to be no
    5xx; ``seen`` collects the statuses; ``call`` goes to ``call_and_validate`` (base_url, session,
    headers)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=[not_a_server_error], **call)
        seen.add(response.status_code)

    fuzz()
