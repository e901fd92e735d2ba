"""The report, rendered by a real browser (headless Chromium) at 1400 px: every image loads,
nothing sticks out of the page, and the panels are wide enough to read. The screenshot the README
shows (docs/images/report.png) is taken here: AZR_UPDATE_SCREENSHOT=1 writes it.

The run is `tests/fixtures/run-toy-tiny/`: metrics.jsonl, heldout.json and config.yaml of a real
`make run` (20 steps of the toy-tiny preset on CPU).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from azr_trainer.report import write_report

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "run-toy-tiny"
CHROMIUM = os.environ.get("AZR_CHROMIUM", "/usr/bin/chromium")
# As root on these machines: no sandbox, no GPU, and no background connections (the closed
# network refuses them, many at a time).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
WIDTH = 1400

# Appended to a copy of the page: after every image has loaded (or failed), what the browser saw.
CHECK = """<script>
window.addEventListener('load', () => {
  const vw = document.documentElement.clientWidth;
  const imgs = [...document.images];
  const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  const out = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    const clipped = e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1;
    return r.right > vw + 0.5 || r.left < -0.5 || clipped;
  }).map(e => e.tagName + (e.className ? '.' + e.className : ''));
  const figures = [...document.querySelectorAll('.grid figure')].map(f => f.clientWidth);
  const pre = document.createElement('pre');
  pre.id = 'azr-check';
  pre.textContent = JSON.stringify({
    viewport: vw, scrollWidth: document.documentElement.scrollWidth, images: imgs.length,
    broken, overflowing: out, narrowestFigure: Math.min(...figures), figures: figures.length,
  });
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture
def served_report(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The fixture run's report, written now and served on localhost."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (make test does)")
    run = tmp_path / FIXTURE.name
    shutil.copytree(FIXTURE, run)
    index = write_report(run)
    (index.parent / "check.html").write_text(
        index.read_text().replace("</body>", CHECK + "</body>")
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(index.parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_every_image_loads_and_nothing_overflows_at_1400px(served_report):
    url, tmp = served_report
    done = _chromium(tmp, f"--window-size={WIDTH},1000", "--dump-dom", f"{url}/check.html")
    found = re.search(r'<pre id="azr-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page never finished loading: {done.stderr[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"'))
    assert seen["images"] == len(list((tmp / FIXTURE.name / "report").glob("*.png"))) >= 17
    assert seen["broken"] == []
    assert seen["overflowing"] == [], seen["overflowing"]
    assert seen["scrollWidth"] <= seen["viewport"]
    # A grid of readable panels: three columns of at least 420 px at this width.
    assert seen["narrowestFigure"] >= 420 and seen["figures"] >= 15


def test_a_screenshot_of_the_report(served_report):
    url, tmp = served_report
    shot = tmp / "report.png"
    done = _chromium(
        tmp, f"--window-size={WIDTH},1600", f"--screenshot={shot}", f"{url}/index.html"
    )
    assert shot.exists(), done.stderr[-2000:]
    assert _png_size(shot) == (WIDTH, 1600)
    if os.environ.get("AZR_UPDATE_SCREENSHOT") == "1":
        target = REPO / "docs" / "images" / "report.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    assert (REPO / "docs" / "images" / "report.png").exists(), "AZR_UPDATE_SCREENSHOT=1 makes it"
