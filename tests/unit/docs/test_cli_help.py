"""``predmaint ... --help`` fits 80 columns and shows every option name whole."""

from __future__ import annotations

import pytest

from predmaint import reference

COMMANDS = reference.cli_commands()


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "predmaint")
def test_help_fits_80_columns_with_whole_option_names(path: tuple[str, ...]) -> None:
    text = reference.cli_help(path, width=80)
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide
    assert "…" not in text
    for param in COMMANDS[path].params:
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            for name in param.opts:
                assert name in text, f"{name} missing from `predmaint {' '.join(path)} --help`"


def test_the_concepts_have_one_name_on_every_command() -> None:
    def has(path: tuple[str, ...], option: str) -> bool:
        return option in reference.cli_options(COMMANDS[path])

    with_state = [("simulate",), ("simulate", "stream"), ("pipeline", "run"), ("pipeline", "runs")]
    with_state += [("serve",), ("drift", "serve"), ("demo",), ("features", "apply"), ("features", "get")]
    assert all(has(p, "--data-dir") for p in with_state)
    assert all(
        has(p, o) for p in [("serve",), ("drift", "serve")] for o in ("--model-path", "--tracking-uri")
    )
    assert all(
        has(p, o) for p in [("simulate",), ("demo",)] for o in ("--history-days", "--drift-onset-hours")
    )
    assert all(has(p, "--format") for p in [("drift", "compare"), ("eval", "skab")])
