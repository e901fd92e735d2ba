"""Print the third-party requirements of azr packages, read from their pyproject.toml files.

`make wheels` writes them to wheelhouse/requirements/IMAGE.txt (only when they changed); each
image's dependency layer installs from that file and the wheelhouse, so it stays cached until the
requirements themselves change; the azr wheels go in a later layer.
Usage: python3 deps.py PYPROJECT... > requirements.txt   (stdlib only; Python 3.11+)
"""

from __future__ import annotations

import re
import sys
import tomllib


def main(paths: list[str]) -> int:
    """Write one requirement per line, azr's own packages left out."""
    seen: set[str] = set()
    for path in paths:
        with open(path, "rb") as f:
            project = tomllib.load(f)["project"]
        for req in project.get("dependencies", []):
            name = re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")
            if not name.startswith("azr-") and req not in seen:
                seen.add(req)
                sys.stdout.write(req + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
