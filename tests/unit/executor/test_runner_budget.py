"""The response budget: a response's stdout and stderr, as JSON, stay under the setting."""

from __future__ import annotations

import json

from azr_executor.runner import fit_response
from azr_executor.sandbox import JobResult
from azr_proto.statuses import RunStatus


def _result(out: str, err: str = "") -> JobResult:
    return JobResult(status=RunStatus.OK, stdout=out, stderr=err)


def test_small_responses_are_untouched():
    results = [_result("hello\n") for _ in range(100)]
    assert fit_response(results, 1 << 20) == 0
    assert all(r.status is RunStatus.OK and r.stdout == "hello\n" for r in results)


def test_control_bytes_are_counted_as_json_and_cut_in_order():
    results = [_result("\x01" * 100_000, "\x02" * 100_000) for _ in range(4)]
    cut = fit_response(results, 1_500_000)  # each run takes 1.2 MB of JSON
    assert cut == 3
    assert results[0].status is RunStatus.OK and len(results[0].stdout) == 100_000
    size = sum(len(json.dumps(r.stdout)) + len(json.dumps(r.stderr)) for r in results)
    assert size <= 1_500_000 + 100 * cut  # a cut run always says so (a short note)
    for r in results[1:]:
        assert r.status is RunStatus.OUTPUT_LIMIT and r.truncated and r.kill_reason == "response"
        assert "output budget" in r.stderr


def test_non_ascii_output_is_counted_in_utf8_bytes():
    results = [_result("é" * 300_000), _result("ok")]
    assert fit_response(results, 700_000) == 0  # 600,000 bytes of UTF-8 fit
    assert fit_response([_result("é" * 300_000)], 500_000) == 1
