"""`bench/azr_step.py` keeps working: one real step at the paper's sizes, and the unsandboxed replay.

BENCHMARKS.md records its figures for issue 4 (the 2 s target); this runs the same command with
one measured step and checks that every figure it is read for is printed and consistent, so the
bench cannot rot between the sessions that measure with it. No timing is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_azr_step_bench_prints_its_figures() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "azr_step.py"),
            "--repeat",
            "1",
            "--baseline",
            "--reference",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    calibration = re.search(r"bare fork \+ exit \+ wait from \S+ costs ([\d.]+) ms CPU", out)
    assert calibration, out
    fork_ms = float(calibration[1])
    assert 0.0 < fork_ms < 100.0
    run = re.search(
        r"run 0: total ([\d.]+) s \| validate ([\d.]+) s \((\d+)/192 valid\) \| "
        r"learnability ([\d.]+) s \(mean solve rate ([\d.]+)\) \| solve ([\d.]+) s \| "
        r"(\d+) sandbox jobs, (\d+) forks",
        out,
    )
    assert run, out
    total, validate, learn, solve = (float(run[i]) for i in (1, 2, 4, 6))
    assert total >= validate + learn + solve - 0.03  # four figures, each rounded to 0.01 s
    # The dataset's three known-invalid proposals (a parameterless f, a non-literal output,
    # an exception); every other one validates.
    assert int(run[3]) == 189
    assert 0.3 < float(run[5]) < 0.7  # right and wrong answers are mixed about evenly
    forks = int(run[8])
    assert forks > 3 * 189  # at least two processes per proposal, one per answer program
    floor = re.search(r"the forks' floor: ([\d.]+) s \((\d+) bare forks on (\d+) zygotes\)", out)
    assert floor and int(floor[2]) == forks
    assert abs(float(floor[1]) - forks * fork_ms / 1000 / int(floor[3])) < 0.01
    for phase in ("validate", "learnability", "solve"):
        assert re.search(rf"  {phase}: \d+ jobs, \d+ forks, sandbox CPU [\d.]+ s", out), phase
    baseline = re.search(r"unsandboxed pool .*: total ([\d.]+) s .* \| (\d+) calls returned", out)
    assert baseline and float(baseline[1]) > 0.0
    assert int(baseline[2]) > forks  # every call of the step, replayed
    reference = re.search(r"reference pool .*: total ([\d.]+) s .* \| (\d+) calls returned", out)
    assert reference and float(reference[1]) > 0.0
    # one job per call, job A's calls only in validation: fewer calls than the full replay
    assert 0 < int(reference[2]) < int(baseline[2])
