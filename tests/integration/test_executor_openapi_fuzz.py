"""Property-based API test: bodies generated from the committed OpenAPI document (valid ones,
and arbitrary JSON) never get a 500, and every error has a `{code, detail}` body."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DOC = json.loads(
    (Path(__file__).resolve().parents[2] / "proto" / "openapi" / "executor.json").read_text()
)


SCHEMAS = DOC["components"]["schemas"]


def _strategy(schema: dict) -> st.SearchStrategy:
    """Values that follow an OpenAPI schema (the subset our documents use), sized small."""
    if "$ref" in schema:
        return st.deferred(lambda: _strategy(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_strategy(s) for s in schema[key]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {k: _strategy(v) for k, v in props.items() if k in required}
        optional = {k: _strategy(v) for k, v in props.items() if k not in required}
        if not props and isinstance(schema.get("additionalProperties"), dict):
            return st.dictionaries(
                st.text(max_size=12), _strategy(schema["additionalProperties"]), max_size=3
            )
        return st.fixed_dictionaries(fixed, optional=optional)
    if kind == "array":
        return st.lists(
            _strategy(schema.get("items", {})), min_size=schema.get("minItems", 0), max_size=3
        )
    if kind == "string":
        return st.text(max_size=40)
    if kind == "integer":
        return st.integers(
            min_value=schema.get("minimum", -(2**40)), max_value=schema.get("maximum", 2**40)
        )
    if kind == "number":
        low = schema.get("exclusiveMinimum", schema.get("minimum", -1e9))
        return st.floats(min_value=low, max_value=schema.get("maximum", 1e9), allow_nan=False,
                         exclude_min="exclusiveMinimum" in schema)  # fmt: skip
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return st.none() | st.integers() | st.text(max_size=10)


def _body(name: str) -> st.SearchStrategy:
    return _strategy({"$ref": f"#/components/schemas/{name}"})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _assert_well_behaved(resp: httpx.Response) -> None:
    assert resp.status_code in (200, 413, 422), (resp.status_code, resp.text[:500])
    if resp.status_code != 200:
        body = resp.json()
        assert set(body) == {"code", "detail"} and body["detail"]


_FUZZ = settings(
    max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def _limit(body: dict) -> dict:
    # Keep executed programs short whatever the generator picked.
    if isinstance(body, dict) and isinstance(body.get("limits"), dict):
        body["limits"].update(wall_timeout_s=1.0, cpu_timeout_s=1)
    return body


@_FUZZ
@given(body=_body("RunRequest"))
def test_run_accepts_or_refuses_schema_bodies_cleanly(executor_server, body):
    _assert_well_behaved(httpx.post(executor_server.url + "/v1/run", json=_limit(body), timeout=30))


@_FUZZ
@given(body=_body("TestsRequest"))
def test_tests_accepts_or_refuses_schema_bodies_cleanly(executor_server, body):
    _assert_well_behaved(
        httpx.post(executor_server.url + "/v1/tests", json=_limit(body), timeout=60)
    )


PATHS = ["/v1/run", "/v1/run/batch", "/v1/tests", "/v1/azr/validate", "/v1/azr/verify",
         "/v1/azr/learnability"]  # fmt: skip

# Text that breaks naive parsers: deep nesting, lone surrogates, NUL, astral characters.
NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "[" * 300 + "]" * 300,
            "-" * 2000 + "1",
            "+".join(["1"] * 2000),
            "\ud800",
            "\x00",
            "\U0001f600",
            "lambda: 0",
            "f(1)",
            "1)\nTrue or f(1",
        ]
    ),
)


@_FUZZ
@given(body=_body("ValidateRequest"), text=NASTY_TEXT)
def test_azr_validate_accepts_or_refuses_schema_bodies_cleanly(executor_server, body, text):
    for proposal in body.get("proposals", []):
        proposal["inputs"] = [text] * len(proposal.get("inputs") or [text])
    body.setdefault("options", {}).update(timeout_s=1.0)
    _assert_well_behaved(_post_raw(executor_server.url + "/v1/azr/validate", body))


@_FUZZ
@given(body=_body("VerifyRequest"), text=NASTY_TEXT)
def test_azr_verify_accepts_or_refuses_schema_bodies_cleanly(executor_server, body, text):
    for item in body.get("items", []):
        item["answers"] = [text] * len(item.get("answers") or [text])
    body.setdefault("options", {}).update(timeout_s=1.0)
    _assert_well_behaved(_post_raw(executor_server.url + "/v1/azr/verify", body))


def _post_raw(url: str, body: object) -> httpx.Response:
    # ensure_ascii: lone surrogates travel as JSON escapes, as any client may send them
    return httpx.post(url, content=json.dumps(body), timeout=60,
                      headers={"content-type": "application/json"})  # fmt: skip


@_FUZZ
@given(body=JSON_VALUES, path=st.sampled_from(PATHS))
def test_arbitrary_json_never_gets_a_500(executor_server, body, path):
    _assert_well_behaved(httpx.post(executor_server.url + path, json=body, timeout=30))


@_FUZZ
@given(raw=st.binary(max_size=200), path=st.sampled_from(PATHS))
def test_arbitrary_bytes_never_get_a_500(executor_server, raw, path):
    resp = httpx.post(
        executor_server.url + path,
        content=raw,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    _assert_well_behaved(resp)
