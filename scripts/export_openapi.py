"""Write (or check) the OpenAPI documents of both services under proto/openapi/.

python scripts/export_openapi.py          # regenerate
python scripts/export_openapi.py --check  # exit 1 when a committed document drifted
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from azr_buffer.app import create_app as create_buffer_app
from azr_buffer.settings import BufferSettings
from azr_executor.app import create_app as create_executor_app
from azr_executor.settings import ExecutorSettings

OPENAPI_DIR = Path(__file__).resolve().parents[1] / "proto" / "openapi"


def documents() -> dict[str, dict[str, Any]]:
    """The current OpenAPI document of each service, keyed by file name."""
    return {
        "executor.json": create_executor_app(ExecutorSettings()).openapi(),
        "buffer.json": create_buffer_app(BufferSettings()).openapi(),
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed files drifted")
    args = parser.parse_args()
    drifted = []
    for name, doc in documents().items():
        path = OPENAPI_DIR / name
        text = render(doc)
        if args.check:
            if not path.exists() or path.read_text() != text:
                drifted.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if drifted:
        print(f"OpenAPI drifted: {', '.join(drifted)}; run `make openapi`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
