"""The committed OpenAPI documents under proto/openapi/ match what the services serve."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _exporter():
    spec = importlib.util.spec_from_file_location(
        "export_openapi", ROOT / "scripts" / "export_openapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_openapi_documents_are_current():
    exporter = _exporter()
    for name, doc in exporter.documents().items():
        committed = (ROOT / "proto" / "openapi" / name).read_text()
        assert committed == exporter.render(doc), (
            f"proto/openapi/{name} drifted: run `make openapi`"
        )


def test_openapi_documents_name_every_health_route():
    for name in ("executor.json", "buffer.json"):
        doc = json.loads((ROOT / "proto" / "openapi" / name).read_text())
        assert {"/healthz", "/readyz"} <= set(doc["paths"]), name
