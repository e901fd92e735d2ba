"""What a task's text and metadata may hold (`azr_proto.buffer_values`): refusals name the place,
and whatever the model accepts is written out by the export and read back equal."""

from __future__ import annotations

import json
import re
import tracemalloc

import pytest
from azr_proto.buffer import TaskIn
from azr_proto.buffer_export import ExportedTask, dump_line, line_kind
from azr_proto.buffer_values import check_metadata
from buffer_strategies import TASKS, canonical
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError


def deduction(**kw) -> dict:
    return {"type": "deduction", "program": "p", "inputs": ["1"], "outputs": ["1"], **kw}


def refusal(task: dict) -> str:
    with pytest.raises(ValidationError) as exc:
        TaskIn.model_validate(task)
    err = exc.value.errors()[0]
    return ".".join(str(p) for p in err["loc"]) + ": " + err["msg"]


@pytest.mark.parametrize(
    ("task", "where"),
    [
        (deduction(program="a\ud800"), "program: "),
        (deduction(inputs=["\udfff"]), "inputs.0: "),
        (deduction(outputs=["ok", "\udc00"], inputs=["1", "2"]), "outputs.1: "),
        (deduction(type="induction", message="\ud800x"), "message: "),
        (deduction(metadata={"a": [1, "\ud800"]}), "metadata: Value error, at ['a'][1]: string"),
        (deduction(metadata={"a": {"\ud800": 1}}), "metadata: Value error, at ['a']: key"),
    ],
)
def test_lone_surrogates_are_refused_with_the_field_path(task, where):
    # (pydantic itself refuses them in length-checked strings: "not a unicode string")
    message = refusal(task)
    assert message.startswith(where) and ("surrogate" in message or "unicode" in message), message


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ({"x": float("nan")}, "at ['x']: nan is not a JSON number"),
        ({"x": [float("inf")]}, "at ['x'][0]: inf is not a JSON number"),
        ({"x": 2**63}, "at ['x']: integer out of the 64-bit range"),
        ({"x": (1, 2)}, "at ['x']: a tuple is not a JSON value"),
        ({"x": {1: 2}}, "at ['x']: key 1 is not a string"),
        ({"blob": "x" * 65536}, "over the limit of 65536"),
    ],
)
def test_metadata_is_plain_finite_json_within_the_size_limit(metadata, says):
    assert says in refusal(deduction(metadata=metadata))


def test_metadata_depth_is_bounded_at_32():
    def nest(depth: int) -> dict:
        value: dict = {}
        for _ in range(depth - 1):
            value = {"a": value}
        return value

    assert TaskIn.model_validate(deduction(metadata=nest(32))).metadata == nest(32)
    assert "nested deeper than 32 levels" in refusal(deduction(metadata=nest(33)))
    lists: list = []
    for _ in range(30):  # 31 levels of lists, 32 with the metadata object
        lists = [lists, 1]
    assert TaskIn.model_validate(deduction(metadata={"l": lists})).metadata == {"l": lists}
    assert "nested deeper than 32 levels" in refusal(deduction(metadata={"l": [lists]}))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(task=TASKS)
def test_whatever_the_model_accepts_is_exported_and_read_back_equal(task):
    try:
        accepted = TaskIn.model_validate(task)
    except ValidationError:
        return
    # As the service stores it (JSON columns) and writes its export line.
    stored = {k: json.loads(json.dumps(getattr(accepted, k))) for k in ("inputs", "outputs")}
    line = dump_line(
        {
            "kind": "task",
            "id": 1,
            **accepted.model_dump(mode="json", exclude={"inputs", "outputs", "metadata"}),
            **stored,
            "metadata": json.loads(json.dumps(accepted.metadata)),
            "content_hash": accepted.compute_hash(),
            "n_attempts": 0,
            "n_solved": 0,
        }
    ).encode()
    assert b"\n" not in line and line_kind(line) == "task"
    back = ExportedTask.model_validate_json(line)
    fields = ("type", "program", "inputs", "outputs", "message", "step", "source", "metadata")
    assert canonical(back.model_dump(mode="json", include=set(fields))) == canonical(
        accepted.model_dump(mode="json", include=set(fields))
    )
    assert back.compute_hash() == accepted.compute_hash()


@pytest.mark.parametrize(
    ("tail", "says"),
    [([], "bytes of JSON, over the limit"), ([float("nan")], "at ['a'][100000]: nan is not")],
)
def test_refusing_wide_metadata_takes_memory_for_its_depth_not_its_width(tail, says):
    # What one request body can hold: the check must not keep a path per node.
    wide = {"a": [[] for _ in range(100_000)] + tail}
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=re.escape(says)):
            check_metadata(wide)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak >> 20} MiB"
