"""Fuzz of the buffer from its committed OpenAPI document, on SQLite and on PostgreSQL: requests
built from the schemas (with hostile strings and numbers), arbitrary JSON and arbitrary bytes
never get a 5xx nor make the service log an error, and every acknowledged write reads back and
exports into an import that the service takes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from azr_proto.buffer import MAX_COUNT, Task, TaskIn
from buffer_server import ENGINES, serve_buffer
from buffer_strategies import JSON_VALUES, KEYS, METADATA, TASKS, TEXT, canonical
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.postgres

DOC = json.loads(
    (Path(__file__).resolve().parents[2] / "proto" / "openapi" / "buffer.json").read_text()
)
SCHEMAS = DOC["components"]["schemas"]
OPERATIONS = sorted((p, m) for p, item in DOC["paths"].items() for m in item)
# Operations with a body are drawn four times as often: that is where the input lies.
WEIGHTED = OPERATIONS + 3 * [(p, m) for p, m in OPERATIONS if "requestBody" in DOC["paths"][p][m]]
RUNS = {"fz-open": None, "fz-small": 8}  # name -> capacity (a small one evicts)
FIELDS = {"type", "program", "inputs", "outputs", "message", "step", "source", "metadata"}
WRITES = ("/tasks", "/import", "/outcomes", "/truncate")
HOSTILE_NUMBERS = st.sampled_from([float("nan"), float("inf"), -0.0, 1e308, 2**63, -(2**63) - 1])


def _strategy(schema: dict) -> st.SearchStrategy:
    """Values that follow an OpenAPI schema, now and then stepping over its bounds."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name == "TaskIn":  # mostly well-shaped tasks, so that many writes are acknowledged
            return st.integers(0, 3).flatmap(
                lambda i: TASKS if i != 1 else st.deferred(lambda: _strategy(SCHEMAS[name]))
            )
        return st.deferred(lambda: _strategy(SCHEMAS[name]))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_strategy(s) for s in schema[key]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | TEXT
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        if not props:
            return METADATA | st.dictionaries(KEYS, JSON_VALUES, max_size=3)
        required = set(schema.get("required", ()))
        fixed = {k: _strategy(v) for k, v in props.items() if k in required}
        optional = {k: _strategy(v) for k, v in props.items() if k not in required}
        return st.fixed_dictionaries(fixed, optional=optional)
    if kind == "array":
        items = _strategy(schema.get("items", {}))
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=3)
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"]) | TEXT
        return TEXT
    if kind == "integer":
        low, high = schema.get("minimum", -(2**40)), schema.get("maximum", 2**40)
        return st.integers(low, min(high, low + 64)) | st.sampled_from([low - 1, high, high + 1])
    if kind == "number":
        return st.floats(-1e9, 1e9) | HOSTILE_NUMBERS
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return JSON_VALUES


def _mostly(draw: st.DrawFn) -> bool:
    """True three times in four (one_of's branches are not drawn evenly)."""
    return draw(st.integers(0, 3)) != 1  # not an end: hypothesis favours the ends


def _ndjson(draw: st.DrawFn) -> bytes:
    """An import body: export-like lines, valid or broken."""
    header = st.builds(
        lambda f, n: {"kind": "run", "format": f, "name": "x", "capacity": n, "eviction": "fifo"},
        st.sampled_from([1, 2, 3]),
        st.none() | st.integers(-1, 5),
    )
    end = st.builds(lambda n: {"kind": "end", "tasks": n}, st.integers(-1, 4))
    counts = st.sampled_from([0, 1, MAX_COUNT - 1, MAX_COUNT, MAX_COUNT + 1, 2**63 - 1])
    task = st.builds(
        lambda t, n, k: {"kind": "task", **t, "n_attempts": n, "n_solved": min(n, k)},
        TASKS,
        counts,
        counts,
    )
    lines = draw(st.lists(st.one_of(task, task, header, end, JSON_VALUES), max_size=5))
    raw = [json.dumps(x).encode() for x in lines]  # NaN and lone surrogates as JSON can hold
    raw += draw(st.lists(st.binary(max_size=40), max_size=1))
    return b"\n".join(raw)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], bytes | None]:
    path, method = draw(st.sampled_from(WEIGHTED))
    op = DOC["paths"][path][method]
    url, body = path, None
    for param in op.get("parameters", ()):
        if param["name"] == "run":
            schema = param["schema"]
            value = str(draw(st.sampled_from(sorted(RUNS)) if _mostly(draw) else _strategy(schema)))
        else:
            value = str(draw(_strategy(param["schema"])))
        url = url.replace("{" + param["name"] + "}", quote(value.encode("utf-8", "surrogatepass")))
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        shaped = _strategy(content["application/json"]["schema"])
        if _mostly(draw):
            body = json.dumps(draw(shaped)).encode()
        else:
            body = draw(st.binary(max_size=60) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
    elif content:
        body = _ndjson(draw)
    return method, url, (json.loads(body) if _is_json(body) else {}), body


def _is_json(body: bytes | None) -> bool:
    try:
        return body is not None and isinstance(json.loads(body), dict)
    except ValueError:
        return False


@pytest.fixture(scope="module", params=ENGINES)
def server(request, tmp_path_factory):
    with serve_buffer(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _ensure_runs(http: httpx.Client) -> None:
    for name, capacity in RUNS.items():
        resp = http.post("/v1/runs", json={"name": name, "capacity": capacity})
        assert resp.status_code in (201, 409), resp.text


def _check_reads_back(http: httpx.Client, method: str, url: str, sent: dict, resp) -> None:
    """The write `resp` acknowledged is there, and the run still exports into an import."""
    if method == "post" and url == "/v1/runs":
        got = http.get(f"/v1/runs/{sent['name']}").json()
        assert (got["capacity"], got["eviction"]) == (
            sent.get("capacity"),
            sent.get("eviction", "fifo"),
        )
        return
    if method == "delete":
        assert resp.status_code != 204 or http.get(url).status_code == 404
        return
    run = url.split("/")[3]
    if url.endswith("/tasks"):
        answer = resp.json()
        for item in answer["inserted"] + answer["duplicates"]:
            sent_task = TaskIn.model_validate(sent["tasks"][item["index"]])
            stored = Task.model_validate_json(
                http.get(f"/v1/runs/{run}/tasks/{item['id']}").content
            )
            assert stored.content_hash == sent_task.compute_hash()
            if item in answer["inserted"]:
                assert canonical(stored.model_dump(mode="json", include=FIELDS)) == canonical(
                    sent_task.model_dump(mode="json", include=FIELDS)
                )
    # The whole run exports with its end line and imports into a fresh run.
    export = http.get(f"/v1/runs/{run}/export")
    assert export.status_code == 200, export.text[:300]
    lines = export.content.splitlines()
    total = http.get(f"/v1/runs/{run}/stats").json()["total"]
    assert json.loads(lines[-1]) == {"kind": "end", "tasks": total} and len(lines) == total + 2
    assert http.post("/v1/runs", json={"name": "fz-copy"}).status_code == 201
    imported = http.post("/v1/runs/fz-copy/import", content=export.content)
    assert imported.status_code == 200 and imported.json()["inserted"] == total, imported.text
    assert http.delete("/v1/runs/fz-copy").status_code == 204


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(request=requests())
def test_no_request_gets_a_5xx_and_acknowledged_writes_read_back(server, http, request):
    server.errors.clear()
    _ensure_runs(http)
    method, url, sent, body = request
    headers = {} if body is None else {"content-type": "application/json"}
    resp = http.request(method.upper(), url, content=body, headers=headers)
    assert resp.status_code < 500, (method, url, body and body[:300], resp.text[:500])
    allowed = (200, 201, 204, 307, 404, 405, 409, 413, 422)  # 307: "/v1/runs/" (empty name)
    assert resp.status_code in allowed, (resp.status_code, resp.text)
    if resp.status_code >= 400:
        error = resp.json()
        assert set(error) == {"code", "detail"} and error["detail"]
    elif method != "get" and (url == "/v1/runs" or url.endswith(WRITES) or method == "delete"):
        _check_reads_back(http, method, url, sent, resp)
    assert not server.errors, server.errors[:3]
