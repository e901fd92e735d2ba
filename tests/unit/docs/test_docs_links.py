"""The README starts where the user is: two commands, then a page per task. Every page it promises
exists, every relative link in README.md and docs/ leads to a file, and the README shows the
report's screenshot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_opens_with_two_commands_and_links_a_page_per_task():
    text = (REPO / "README.md").read_text()
    assert text.split("\n\n", 1)[1].startswith("```bash\n")  # right under the title
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in first_block.splitlines()] == [
        ["make", "run"],
        ["make", "test"],
    ]
    for page in (
        "train-on-one-gpu.md",
        "train-on-a-cluster.md",
        "use-the-executor-from-your-rl-code.md",
        "deploy-the-executor.md",
    ):
        assert f"](docs/{page})" in text
    assert "](docs/images/report.png)" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file(page):
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


def test_no_page_points_at_port_8000():
    # The executor listens on 8010; the buffer on 8020.
    for page in PAGES:
        assert ":8000" not in page.read_text(), page.name
