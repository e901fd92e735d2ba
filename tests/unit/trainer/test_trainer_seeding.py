"""Seeding the buffer: the zero triplet, cheap model rounds (no learnability rollouts), and seed
files in this project's and the reference's formats, each seed checked by the executor."""

from __future__ import annotations

import itertools
import json

import pytest
from azr_trainer.seeding import read_seed_file, seed_buffer
from trainer_fakes import GOOD, ans, make, responder


def test_seed_inserts_checked_zero_triplet_once():
    sp, store, _, _ = make(responder())
    sizes = seed_buffer(sp, target=1, batch=1, max_rounds=3)
    assert sizes == {"abduction": 1, "deduction": 1, "induction": 1}
    ded = next(t for t in store.tasks if t.task_type == "deduction")
    assert ded.outputs == ('o("Hello world")',)
    ind = next(t for t in store.tasks if t.task_type == "induction")
    assert len(ind.inputs) == 6 and len(ind.outputs) == 6
    seed_buffer(sp, target=1, batch=1, max_rounds=3)
    assert len(store.tasks) == 3


def test_seed_grows_to_target_without_duplicates():
    counter = itertools.count()

    def respond(prompt, learnability):
        if "Propose a new" in prompt:
            return ans(("python", GOOD), ("input", str(next(counter))))
        return responder()(prompt, learnability)

    sp, store, _, _ = make(respond)
    sizes = seed_buffer(sp, target=4, batch=2, max_rounds=10)
    assert sizes["abduction"] == 4 and sizes["deduction"] == 4
    keys = [(t.task_type, t.inputs) for t in store.tasks]
    assert len(keys) == len(set(keys))
    assert all(t.step == 0 for t in store.tasks)


def test_seed_stops_after_max_rounds_when_model_is_useless():
    sp, _store, _, gen = make(lambda p, learn: "garbage")
    sizes = seed_buffer(sp, target=5, batch=2, max_rounds=2)
    assert sizes == {"abduction": 1, "deduction": 1, "induction": 1}
    proposer_calls = [c for c in gen.calls if not c[1]]
    assert len(proposer_calls) == 2 * 3


def test_io_seeds_are_shared_between_deduction_and_abduction():
    # The reference seeds both io buffers from one set: a triplet that only the deduction
    # proposer got right must also be an abduction seed (else the abduction proposer sees only
    # the zero triplet, forever, when it cannot write a valid task at first).
    counter = itertools.count()

    def respond(prompt, learnability):
        if "Propose a new deduction task" in prompt:
            return ans(("python", GOOD), ("input", str(next(counter))))
        if "Propose a new" in prompt:
            return "garbage"  # the abduction (and induction) proposer is useless
        return responder()(prompt, learnability)

    sp, store, _, _ = make(respond)
    sizes = seed_buffer(sp, target=3, batch=2, max_rounds=1)
    programs = {t: {(x.program, x.inputs) for x in store.tasks if x.task_type == t}
                for t in ("deduction", "abduction")}  # fmt: skip
    assert sizes["deduction"] == sizes["abduction"] == 3
    assert programs["deduction"] == programs["abduction"]


def test_seeding_runs_no_learnability_rollouts():
    counter = itertools.count()

    def respond(prompt, learnability):
        if "Propose a new" in prompt:
            return ans(("python", GOOD), ("input", str(next(counter))))
        return responder()(prompt, learnability)

    sp, _, _, gen = make(respond)
    sizes = seed_buffer(sp, 4, batch=2, max_rounds=10)
    assert sizes["deduction"] == 4
    assert gen.calls and not any(learn for _, learn in gen.calls)


# The reference's released files (data/7b_coder_seed_io.jsonl, ..._code_f_seed_io.jsonl):
# imports kept apart (and usually also inside the snippet), private `_input_type` fields.
REFERENCE_IO = [
    {
        "snippet": "def f(a):\n    return a",
        "input": '"Hello world"',
        "output": '"Hello world"',
        "imports": [],
        "original_snippet": "def f(a):\n    return a",
        "composite_functions": [],
    },
    {
        "snippet": "def f(s):\n    return re.sub('a', 'b', s)",
        "input": "'aa'",
        "output": "'bb'",
        "imports": ["import re"],
        "composite_functions": [],
        "_input_type": "str",
    },
    {"snippet": "def f(x):\n    return bad", "input": "1", "output": "1", "imports": []},
]
REFERENCE_CODE_F = [
    {"snippet": "def f(xs):\n    return xs", "inputs": ["[1]", "[2]", "[3]", "[4]"],
     "outputs": ["[1]", "[2]", "[3]", "[4]"], "message": "echo", "imports": [],
     "_input_types": ["list"] * 4},
    {"snippet": "def f(xs):\n    return xs[::-1]", "inputs": ["[1, 2]", "[3]"],
     "outputs": ["[2, 1]", "[3]"], "message": "echo", "imports": []},
]  # fmt: skip


def _jsonl(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def test_seed_files_in_the_reference_format_are_checked_and_need_no_model(tmp_path):
    io = _jsonl(tmp_path / "7b_coder_seed_io.jsonl", REFERENCE_IO)
    code_f = _jsonl(tmp_path / "7b_coder_code_f_seed_io.jsonl", REFERENCE_CODE_F)
    sp, store, _, gen = make(responder())
    sizes = seed_buffer(sp, 2, batch=2, max_rounds=5, files=[str(io), str(code_f)])
    assert sizes == {"abduction": 2, "deduction": 2, "induction": 2}
    assert gen.calls == []  # the files filled the buffer: no generation at all
    ded = [t for t in store.tasks if t.task_type == "deduction"]
    assert [t.program for t in ded] == [
        "def f(a):\n    return a",
        "import re\ndef f(s):\n    return re.sub('a', 'b', s)",  # the import put back
    ]
    # The outputs are the executor's (the fake judge's "o(...)"), not the file's.
    assert ded[1].outputs == ("o('aa')",)
    assert {t.program for t in store.tasks if t.task_type == "abduction"} == {
        t.program for t in ded
    }
    ind = [t for t in store.tasks if t.task_type == "induction"]
    assert [t.message for t in ind] == ["echo", "echo"]
    assert ind[0].inputs == ("[1]", "[2]", "[3]", "[4]")
    assert all(t.step == 0 for t in store.tasks)


def test_seed_file_in_this_projects_format(tmp_path):
    path = _jsonl(
        tmp_path / "seeds.jsonl",
        [
            {"program": GOOD, "input": "1", "output": "1"},
            {"program": GOOD, "inputs": ["1", "2"], "outputs": ["1", "2"], "message": "m"},
        ],
    )
    seeds = read_seed_file(path)
    assert [(p.task_type, p.inputs, out) for p, out in seeds] == [
        ("deduction", ("1",), ("1",)),
        ("induction", ("1", "2"), ("1", "2")),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "seeds.jsonl:2:"),
        (json.dumps({"input": "1"}), '"program" (or "snippet") must be a non-empty string'),
        (json.dumps({"program": GOOD, "inputs": ["1"], "message": "m"}), "at least 2 inputs"),
        (json.dumps({"program": GOOD, "inputs": ["1", "2"]}), '"message" must be'),
    ],
)
def test_a_bad_seed_line_is_a_clear_error(tmp_path, line, message):
    path = tmp_path / "seeds.jsonl"
    path.write_text(json.dumps({"program": GOOD, "input": "1"}) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_seed_file(path)
