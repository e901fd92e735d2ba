"""The buffer's wire models: task shapes, the content hash, request checks."""

from __future__ import annotations

import pytest
from azr_proto.buffer import OutcomeRecord, SampleRequest, TaskIn, task_content_hash
from azr_proto.buffer_export import ExportedTask
from azr_proto.tasks import TaskType
from pydantic import ValidationError


def deduction(**kw) -> TaskIn:
    base = {
        "type": "deduction",
        "program": "def f(a):\n    return a",
        "inputs": ["1"],
        "outputs": ["1"],
    }
    return TaskIn.model_validate({**base, **kw})


def test_task_types_are_exactly_the_three_azr_types():
    assert [str(t) for t in TaskType] == ["deduction", "abduction", "induction"]


def test_content_hash_ignores_step_source_and_metadata():
    a = deduction(step=1, source="seed", metadata={"x": 1})
    b = deduction(step=9, source="proposed")
    assert a.compute_hash() == b.compute_hash()
    assert len(a.compute_hash()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"program": "def f(a):\n    return a "},
        {"inputs": ["2"]},
        {"outputs": ["2"]},
        {"type": "abduction"},
    ],
)
def test_content_hash_changes_with_the_content(change):
    assert deduction().compute_hash() != deduction(**change).compute_hash()


def test_content_hash_is_canonical_json_not_python_repr():
    # Pinned: a change of the canonical form would split one task into two across versions.
    h = task_content_hash(TaskType.INDUCTION, "p", ["1", "2"], ["3", "4"], "ünï")
    assert h == task_content_hash(TaskType.INDUCTION, "p", ["1", "2"], ["3", "4"], "ünï")
    assert h != task_content_hash(TaskType.INDUCTION, "p", ["1", "2"], ["3", "4"], None)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "induction"},  # no message
        {"inputs": ["1", "2"], "outputs": ["1", "2"]},  # deduction with two pairs
        {"inputs": ["1"], "outputs": []},
        {"program": ""},
        {"type": "translation"},
        {"step": -1},
        {"unknown_field": 1},
    ],
)
def test_malformed_tasks_are_rejected(bad):
    with pytest.raises(ValidationError):
        deduction(**bad)


def test_induction_task_takes_several_pairs_and_a_message():
    t = TaskIn(type="induction", program="p", inputs=["1", "2"], outputs=["1", "2"], message="same")
    assert len(t.inputs) == 2


def test_sample_request_checks_k_and_step():
    with pytest.raises(ValidationError):
        SampleRequest(type="deduction", k=0)
    with pytest.raises(ValidationError):
        SampleRequest(type="deduction", k=1, strategy="recent")
    assert SampleRequest(type="deduction", k=1, strategy="new_first", step=3).step == 3


def test_outcome_cannot_solve_more_than_attempted():
    with pytest.raises(ValidationError):
        OutcomeRecord(task_id=1, n_attempts=1, n_solved=2)


def test_exported_task_rejects_a_stale_hash():
    line = deduction().model_dump() | {"content_hash": "0" * 64}
    with pytest.raises(ValidationError):
        ExportedTask.model_validate(line)
    good = deduction().model_dump() | {"content_hash": deduction().compute_hash(), "id": 5}
    assert ExportedTask.model_validate(good).id == 5
