"""Every executor setting is documented in the executor README's settings table, and every
documented one exists (so the docs follow the code)."""

from __future__ import annotations

import re
from pathlib import Path

from azr_executor.settings import ExecutorSettings

README = Path(__file__).resolve().parents[3] / "services" / "executor" / "README.md"


def _documented() -> set[str]:
    section = README.read_text().split("## Settings")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    # the first cell of each row names one or more variables
    return {name for row in rows for name in re.findall(r"`([A-Z_*]+)`", row.split(" | ")[0])}


def test_every_setting_has_a_row_and_every_row_a_setting():
    fields = {name.upper() for name in ExecutorSettings.model_fields}
    documented = _documented()
    # `MAX_* (same names)`: the maximum of each default limit listed in the row above it
    maxima = {f for f in fields if f.startswith("MAX_") and f[4:] in documented}
    assert "MAX_*" in documented and maxima
    assert sorted(fields - documented - maxima) == []
    assert sorted(documented - fields - {"MAX_*"}) == []
