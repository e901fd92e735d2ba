"""Every vendored benchmark loads with the record counts of data/README.md and usable fields."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import zlib

import pytest
from azr_trainer.evals.benchmarks import BENCHMARKS, default_data_dir, load_benchmark
from azr_trainer.evals.evalplus import deserialize_mbpp_inputs

COUNTS = {
    "cruxeval_o": 700,
    "cruxeval_i": 700,
    "humanevalplus": 164,
    "mbppplus": 378,
    "aime24": 30,
    "aime25": 30,
    "amc23": 40,
    "math500": 500,
    "minerva_math": 272,
    "olympiadbench": 675,
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_benchmark_loads_every_record_with_gold(name):
    problems = load_benchmark(name)
    assert len(problems) == COUNTS[name]
    assert len({p.id for p in problems}) == len(problems)
    # CRUXEval sample_135 calls f() with no arguments: its gold input is empty.
    empty = {p.id for p in problems if not all(g.strip() for g in p.gold)}
    assert all(p.gold for p in problems)
    assert empty == ({"sample_135"} if name == "cruxeval_i" else set())
    assert all(p.question.strip() for p in problems)


def test_limit_keeps_the_first_problems():
    assert [p.id for p in load_benchmark("aime25", limit=3)] == ["I-1", "I-2", "I-3"]


def test_amc_float_answers_are_written_as_integers():
    assert load_benchmark("amc23", limit=1)[0].gold == ("27",)


def test_evalplus_problems_carry_all_base_and_plus_inputs():
    he = load_benchmark("humanevalplus")
    assert sum(len(p.tests) for p in he) == 124253
    assert all(p.entry_point and p.tests for p in he)
    mbpp = {p.id: p for p in load_benchmark("mbppplus")}
    assert mbpp["Mbpp/793"].tests  # plus_input is {} there: base inputs still count


def test_mbpp_inputs_get_their_tuples_back():
    assert deserialize_mbpp_inputs("Mbpp/2", [[[1, 2], [3]]]) == [[(1, 2), (3,)]]
    assert deserialize_mbpp_inputs("Mbpp/252", [["1+2j"]]) == [[complex(1, 2)]]
    assert deserialize_mbpp_inputs("Mbpp/1", [[[1, 2]]]) == [[[1, 2]]]


def test_unknown_benchmark_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark("gsm8k")


def test_livecodebench_needs_a_local_path():
    with pytest.raises(ValueError, match="not vendored"):
        load_benchmark("livecodebench")
    assert "livecodebench" in BENCHMARKS


def _lcb_row(qid, private):
    public = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
    return {
        "question_id": qid,
        "question_content": "Add two numbers.",
        "starter_code": "",
        "public_test_cases": json.dumps(public),
        "private_test_cases": private,
        "contest_date": "2024-01-01",
    }


def test_livecodebench_local_file_loads_packed_private_cases(tmp_path):
    private = [{"input": "5 5\n", "output": "10\n", "testtype": "stdin"}]
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(private)))).decode()
    path = tmp_path / "lcb.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(_lcb_row("abc1", packed)) + "\n")
        fh.write(json.dumps(_lcb_row("abc2", json.dumps(private))) + "\n")
    problems = load_benchmark("livecodebench", livecodebench_path=path)
    assert [p.tests for p in problems] == [(("1 2\n", "3\n"), ("5 5\n", "10\n"))] * 2


def test_livecodebench_refuses_pickled_objects(tmp_path):
    packed = base64.b64encode(zlib.compress(pickle.dumps(print))).decode()
    path = tmp_path / "lcb.jsonl"
    path.write_text(json.dumps(_lcb_row("x", packed)) + "\n")
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_benchmark("livecodebench", livecodebench_path=path)


def test_data_dir_comes_from_the_checkout():
    assert (default_data_dir() / "cruxeval" / "cruxeval.jsonl").is_file()
