"""Every buffer setting has a row in docs/buffer.md's settings table, and every row names
real settings (so the docs follow the code)."""

from __future__ import annotations

import re
from pathlib import Path

from azr_buffer.settings import BufferSettings

README = Path(__file__).resolve().parents[3] / "docs" / "buffer.md"


def test_every_buffer_setting_has_a_row_and_every_row_a_setting():
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `AZR_BUFFER_")]
    documented = {
        n for row in rows for n in re.findall(r"`AZR_BUFFER_([A-Z_]+)`", row.split(" | ")[0])
    }
    fields = {name.upper() for name in BufferSettings.model_fields}
    assert sorted(fields - documented) == []
    assert sorted(documented - fields) == []
