"""The alert and gate policies' defaults have one source (``aml.evaluation``): every component YAML and
pipeline input of the same name states the same default, and the steps' arguments take them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from aml.evaluation import AlertPolicy
from aml.gate import GatePolicy, policy_inputs

AML_DIR = Path(__file__).resolve().parents[3] / "aml"
YAMLS = sorted((AML_DIR / "components").glob("*.yml")) + sorted((AML_DIR / "pipelines").glob("*.yml"))


def _declared_defaults(path: Path) -> dict[str, object]:
    inputs = (yaml.safe_load(path.read_text()) or {}).get("inputs") or {}
    return {
        name: spec.get("default") if isinstance(spec, dict) else spec
        for name, spec in inputs.items()
        if name in policy_inputs()
    }


def test_policy_inputs_are_the_policies_defaults() -> None:
    defaults = policy_inputs()
    assert defaults["alert_k"] == AlertPolicy().alert_k
    assert defaults["max_false_alarms"] == GatePolicy().max_false_alarms_per_machine_month
    assert set(defaults) == {
        "alert_k",
        "cooldown_h",
        "horizon_h",
        "min_lead_h",
        "max_false_alarms",
        "tolerance",
    }


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_yaml_defaults_equal_the_policy(path: Path) -> None:
    declared = _declared_defaults(path)
    wrong = {k: v for k, v in declared.items() if v != policy_inputs()[k]}
    assert not wrong, f"{path.name}: {wrong} differ from aml.evaluation's policies {policy_inputs()}"


def test_the_evaluate_component_declares_every_policy_input() -> None:
    assert set(_declared_defaults(AML_DIR / "components" / "evaluate.yml")) == set(policy_inputs())


def test_the_steps_arguments_default_to_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step's parser, given only its required options: the policy inputs keep the defaults."""
    from aml.steps import evaluate, prepare

    seen: dict[str, object] = {}
    real = argparse.ArgumentParser.parse_args

    def defaults_only(self: argparse.ArgumentParser, *_: object) -> argparse.Namespace:
        required = [arg for a in self._actions if a.required for arg in (a.option_strings[0], "x")]
        seen.update(vars(real(self, required)))
        raise SystemExit(0)  # stop before the step reads anything

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", defaults_only)
    for step, expected in ((evaluate, set(policy_inputs())), (prepare, {"alert_k"})):
        seen.clear()
        with pytest.raises(SystemExit):
            step.main([])
        assert {k: seen[k] for k in expected} == {k: policy_inputs()[k] for k in expected}, step.__name__
