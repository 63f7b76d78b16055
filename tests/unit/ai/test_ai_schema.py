"""Parsing and validation of model answers: per-pair-id results, never mis-assigned."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.ai.fake_server import fake_item
from perfectmatch.ai.schema import loads_json_object, parse_compat_batch, parse_profile
from perfectmatch.errors import AnalysisParseError


def item(pid: str, score: float = 70) -> dict:
    it = fake_item({"pairId": pid, "vectorSimilarity": {"CV": 0.7}, "userA": {}, "userB": {}})
    it["compatibilityScore"] = score
    return it


def test_valid_batch_parses_every_id() -> None:
    text = json.dumps({"analyses": [item("a"), item("b", 12.5)]})
    got = parse_compat_batch(text, ["a", "b"])
    assert set(got.items) == {"a", "b"} and not got.errors
    assert got.items["b"].compatibility_score == 12.5
    assert len(got.items["a"].compatibility_factors) == 5


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda it: it.update(compatibilityScore=101), "compatibilityScore"),
        (lambda it: it.update(compatibilityScore=-1), "compatibilityScore"),
        (lambda it: it.update(compatibilityFactors=it["compatibilityFactors"][:4]), "compatibilityFactors"),
        (lambda it: it.update(conversationStarters=["x"] * 6), "conversationStarters"),
        (lambda it: it.update(potentialChallenges=["x"]), "potentialChallenges"),
        (lambda it: it["compatibilityFactors"][0].update(score=250), "score"),
        (lambda it: it.update(compatibilityScore="high"), "compatibilityScore"),
    ],
)
def test_out_of_range_items_are_errors_not_results(mutate, fragment) -> None:
    bad = item("a")
    mutate(bad)
    got = parse_compat_batch(json.dumps({"analyses": [bad, item("b")]}), ["a", "b"])
    assert "a" not in got.items and fragment in got.errors["a"]
    assert set(got.items) == {"b"}


@pytest.mark.parametrize("text", ["", "not json", '{"analyses": [', "[1, 2]", '{"results": []}', "```json\n{]\n```"])
def test_unusable_answers_fail_every_id(text: str) -> None:
    got = parse_compat_batch(text, ["a", "b"])
    assert not got.items and set(got.errors) == {"a", "b"}


def test_code_fence_is_tolerated() -> None:
    assert loads_json_object('```json\n{"x": 1}\n```') == {"x": 1}


def test_missing_extra_and_duplicate_ids() -> None:
    text = json.dumps({"analyses": [item("a"), item("a"), item("ghost"), item("c")]})
    got = parse_compat_batch(text, ["a", "b", "c"])
    assert set(got.items) == {"c"}
    assert "appears 2 times" in got.errors["a"] and "missing" in got.errors["b"]
    assert got.extra_ids == ["ghost"]


ids = st.lists(st.text("abcdef0123", min_size=1, max_size=4), min_size=1, max_size=8, unique=True)


@settings(max_examples=60, deadline=None)
@given(asked=ids, answered=st.lists(st.text("abcdef0123", min_size=1, max_size=4), max_size=12), data=st.data())
def test_every_asked_id_lands_in_exactly_one_place(asked, answered, data) -> None:
    scores = {pid: data.draw(st.floats(-50, 150, allow_nan=False)) for pid in answered}
    text = json.dumps({"analyses": [item(pid, scores[pid]) for pid in answered]})
    got = parse_compat_batch(text, asked)
    assert set(got.items) | set(got.errors) == set(asked)
    assert not set(got.items) & set(got.errors)
    for pid, it in got.items.items():
        assert it.pair_id == pid and answered.count(pid) == 1 and 0 <= it.compatibility_score <= 100
    assert all(pid not in asked for pid in got.extra_ids)


def test_profile_parse_errors_name_the_field() -> None:
    with pytest.raises(AnalysisParseError, match=r"keyTraits|key_traits"):
        parse_profile('{"summary": "x", "keyTraits": ["a"]}')
    assert parse_profile('{"summary": "x", "keyTraits": ["a", "b", "c"]}').key_traits == ["a", "b", "c"]
