"""docs/errors-and-health.md lists every error code with its status, exactly as the classes spell them."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.service.test_errors_root import all_domain_errors

DOC = Path(__file__).resolve().parents[3] / "docs" / "errors-and-health.md"
ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \|", re.MULTILINE)


def test_the_code_table_matches_the_error_classes() -> None:
    documented = {(int(status), code) for status, code in ROW.findall(DOC.read_text())}
    raised = {(cls.status, cls.code) for cls in all_domain_errors()}
    assert documented - raised == set(), "documented but no class has it"
    assert raised - documented == set(), "add these to docs/errors-and-health.md"
