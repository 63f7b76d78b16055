"""ResilientAnalyzer with scripted providers: re-ask, fallback, cache, invalidation, budget, content split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

from conftest_ai import make_pair, make_pairs
from perfectmatch.adapters.cache.memory import MemoryCache
from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.llm import ScriptedChatClient
from perfectmatch.ai import LocalAnalyzer, build_analyzer, split_content
from perfectmatch.ai.content import compact_fallbacks, stored_content
from perfectmatch.ai.fake_server import _answer_for, expected_score, fake_item
from perfectmatch.ai.prompts import pair_payload, sanitize
from perfectmatch.config import AISettings
from perfectmatch.errors import InvalidInputError, ProviderError
from perfectmatch.ports import ChatMessage, PairContext


def good_answer(messages: list[ChatMessage]) -> str:
    _, payloads = _answer_for([{"role": m.role, "content": m.content} for m in messages])
    return json.dumps({"analyses": [fake_item(p) for p in payloads]})


def drop_first(messages: list[ChatMessage]) -> str:
    data = json.loads(good_answer(messages))
    data["analyses"] = data["analyses"][1:]
    return json.dumps(data)


def settings(**kw) -> AISettings:
    base = dict(openai_api_key="k", backoff_base_s=0.0, batch_deadline_s=5, backup_reserve_s=1, timeout_s=1,
                openai_rpm=0, openai_tpm=0, concurrency=1)
    base.update(kw)
    return AISettings(**base)


def analyzer(clients: dict[str, ScriptedChatClient], cache=None, **kw):
    return build_analyzer(settings(**kw), cache=cache, clock=FakeClock(), environ={},
                          make_client=lambda spec: clients[spec.name], sleep=lambda s: None)


def test_one_result_per_pair_in_order_from_the_model() -> None:
    client = ScriptedChatClient(default=good_answer, name="openai")
    a = analyzer({"openai": client})
    pairs = make_pairs(120)
    res = a.analyze(pairs)
    assert [r.pair_id for r in res] == [p.pair_id for p in pairs]
    assert {r.source for r in res} == {"llm"} and len(client.calls) == 3  # batches of 50
    assert a.summary().results_by_source == {"openai": 120}
    assert client.calls[0]["json_schema"]["name"] == "compatibility_batch"


def test_invalid_item_is_reasked_once_with_its_error_then_falls_back() -> None:
    client = ScriptedChatClient([drop_first, drop_first], name="openai")
    a = analyzer({"openai": client})
    pairs = make_pairs(3)
    res = {r.pair_id: r for r in a.analyze(pairs)}
    assert len(client.calls) == 2
    reask = client.calls[1]["messages"]
    assert "pair-0" in reask[-1].content and "missing" in reask[-1].content
    assert '"pairId":"pair-0"' in reask[1].content and "pair-1" not in reask[1].content  # only the failed pair
    assert res["pair-0"].source == "fallback" and res["pair-1"].source == res["pair-2"].source == "llm"


def test_reask_can_rescue_the_item() -> None:
    client = ScriptedChatClient([drop_first, good_answer], name="openai")
    res = analyzer({"openai": client}).analyze(make_pairs(3))
    assert {r.source for r in res} == {"llm"}


def test_provider_errors_fail_over_to_backup_then_fallback() -> None:
    oa = ScriptedChatClient(default=ProviderError("openai", "HTTP 500", status=500), name="openai")
    ds = ScriptedChatClient([good_answer], default=ProviderError("deepseek", "HTTP 503"), name="deepseek")
    a = analyzer({"openai": oa, "deepseek": ds}, deepseek_api_key="d", max_attempts=2)
    res = a.analyze(make_pairs(2))
    assert {r.source for r in res} == {"llm"} and len(oa.calls) == 2 and len(ds.calls) == 1
    assert ds.calls[0]["json_schema"] is None  # DeepSeek: plain JSON mode
    res = a.analyze(make_pairs(2, start=10))
    assert {r.source for r in res} == {"fallback"}
    assert a.max_attempts_seen <= 4  # 1 + 3 retries per batch across providers


def test_cache_second_run_makes_no_calls_and_a_changed_profile_only_its_pairs() -> None:
    cache = MemoryCache(FakeClock())
    client = ScriptedChatClient(default=good_answer, name="openai")
    pairs = make_pairs(10)
    analyzer({"openai": client}, cache=cache).analyze(pairs)
    calls = len(client.calls)
    again = analyzer({"openai": client}, cache=cache)
    res = again.analyze(pairs)
    assert len(client.calls) == calls and {r.source for r in res} == {"cache"}
    changed = [make_pair(3, note="I changed my mind: I love swimming") if p.pair_id == "pair-3" else p for p in pairs]
    res = again.analyze(changed)
    assert len(client.calls) == calls + 1
    assert '"pairId":"pair-3"' in client.calls[-1]["messages"][1].content
    assert client.calls[-1]["messages"][1].content.count('"pairId":"') == 1
    assert [r.source for r in res].count("llm") == 1


def test_fallback_results_are_not_cached() -> None:
    cache = MemoryCache(FakeClock())
    down = ScriptedChatClient(default=ProviderError("openai", "down"), name="openai")
    analyzer({"openai": down}, cache=cache).analyze(make_pairs(2))
    up = ScriptedChatClient(default=good_answer, name="openai")
    res = analyzer({"openai": up}, cache=cache).analyze(make_pairs(2))
    assert {r.source for r in res} == {"llm"}


def test_budget_exhausted_falls_back_without_calls() -> None:
    client = ScriptedChatClient(default=good_answer, name="openai", model="gpt-4o")
    a = analyzer({"openai": client}, run_budget_usd=0.0001, openai_model="gpt-4o")
    a.analyze(make_pairs(50))
    n = len(client.calls)
    res = a.analyze(make_pairs(50, start=100))
    assert len(client.calls) == n and {r.source for r in res} == {"fallback"}
    assert a.summary().budget_exhausted
    a.start_run()  # a new run gets a new budget
    assert {r.source for r in a.analyze(make_pairs(5, start=500))} == {"llm"}
    assert a.summary().results_by_source == {"openai": 5}


def test_no_key_means_local_fallback_without_network() -> None:
    a = build_analyzer(AISettings(), environ={})
    assert a.engine is None and "local fallback" in a.description
    res = a.analyze(make_pairs(3))
    assert {r.source for r in res} == {"fallback"}
    assert all(0 <= r.score <= 100 and len(r.conversation_starters) == 3 for r in res)


def test_duplicate_pair_ids_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="pair-1"):
        LocalAnalyzer().analyze(make_pairs(2)) and build_analyzer(AISettings(), environ={}).analyze(
            [make_pair(1), make_pair(1)])


def test_local_fallback_scores_and_starters() -> None:
    pair = make_pair(4)
    res = LocalAnalyzer().analyze_one(pair)
    assert res.score == pytest.approx(min(100, pair.vector_score * 100), abs=0.1)
    assert "hiking" in res.conversation_starters[0] or "serious" in res.conversation_starters[0]
    assert len(res.challenges) == 2 and res.source == "fallback"


def test_profile_and_starters_requests() -> None:
    def profile_answer(messages):
        return json.dumps({"summary": "Kind.", "keyTraits": ["a", "b", "c"]})

    client = ScriptedChatClient(["not json", profile_answer], name="openai")
    a = analyzer({"openai": client}, cache=MemoryCache(FakeClock()))
    p = a.analyze_profile({"goal": "serious", "email": "x@y.z"})
    assert p.source == "llm" and p.key_traits == ("a", "b", "c") and len(client.calls) == 2
    assert "x@y.z" not in client.calls[0]["messages"][1].content
    assert a.analyze_profile({"goal": "serious", "email": "x@y.z"}).source == "cache"
    down = analyzer({"openai": ScriptedChatClient(default=ProviderError("openai", "down"), name="openai")})
    assert down.analyze_profile({"goal": "x"}).source == "fallback"
    st = down.conversation_starters(make_pair(1))
    assert st.source == "fallback" and 3 <= len(st.conversation_starters) <= 5


def test_free_and_premium_content_split() -> None:
    res = LocalAnalyzer().analyze_one(make_pair(2))
    free = split_content(res, premium=False)
    full = split_content(res, premium=True)
    assert len(free["factors"]) == 3 and "detailed_analysis" not in free and "conversation_starters" not in free
    assert free["factors"][0]["score"] >= free["factors"][-1]["score"]
    assert len(full["factors"]) == 5 and full["conversation_starters"] and full["challenges"]



_unit32 = st.floats(0.0, 1.0, width=32)


@given(_unit32, st.dictionaries(st.sampled_from(["RC", "CS", "EI", "LC", "CV", "TEXT"]),
                                _unit32 | st.sampled_from([0.5, 0.75, 0.12345, float("nan")])))  # ties, midpoints
def test_a_compact_fallback_row_renders_what_the_eager_fallback_renders(vector: float, sims: dict[str, float]) -> None:
    # the batch stores LocalAnalyzer's inputs (float32, as JSON text) and renders them on read
    f32 = {k: np.float32(v) for k, v in sims.items()}
    (text,) = compact_fallbacks(np.array([vector], np.float32), {k: np.array([v]) for k, v in f32.items()})
    row = {"id": "2026-11-25:1:2", "user_a": 1, "user_b": 2, "basic": json.loads(text), "premium": {}}
    pair = PairContext(pair_id=row["id"], user_a=1, user_b=2, data_a={}, data_b={},
                       similarities={k: round(float(v), 4) for k, v in f32.items() if not np.isnan(v)},
                       vector_score=round(float(np.float32(vector)), 4))
    eager = LocalAnalyzer().analyze_one(pair)
    assert stored_content(row) == (split_content(eager, premium=False), split_content(eager, premium=True))
    full = {"basic": {"summary": "x"}, "premium": {"premium": True}}
    assert stored_content(full) == (full["basic"], full["premium"])  # other rows are returned as stored

def _mangle(kind: str):
    def answer(messages: list[ChatMessage]) -> str:
        data = json.loads(good_answer(messages))
        items = data["analyses"]
        if kind == "shuffle":
            items.reverse()
        elif kind == "ghost":
            items.append(dict(items[0], pairId="pair-999999"))
        elif kind == "drop":
            items.pop()
        elif kind == "bad":
            items[0]["compatibilityScore"] = 300
        elif kind == "junk":
            return "no json here"
        return json.dumps(data)

    return answer


@settings_h(max_examples=40, deadline=None)
@given(script=st.lists(st.sampled_from(["ok", "shuffle", "ghost", "drop", "bad", "junk", "error"]), max_size=12),
       n=st.integers(1, 23))
def test_any_mix_of_answers_scores_each_pair_exactly_once(script, n) -> None:
    steps = [ProviderError("openai", "HTTP 500") if k == "error" else (good_answer if k == "ok" else _mangle(k))
             for k in script]
    client = ScriptedChatClient(steps, default=good_answer, name="openai")
    a = analyzer({"openai": client}, batch_size=5)
    pairs = make_pairs(n)
    res = a.analyze(pairs)
    assert [r.pair_id for r in res] == [p.pair_id for p in pairs]
    assert sum(a.summary().results_by_source.values()) == n
    for pair, r in zip(pairs, res, strict=True):
        if r.source == "llm":
            assert r.score == expected_score(sanitize(pair_payload(pair)))
        else:
            assert r.source == "fallback" and r.score == LocalAnalyzer().analyze_one(pair).score
    assert a.max_attempts_seen <= 4


def test_async_api_bounds_batches_in_flight() -> None:
    import asyncio
    import threading
    import time

    live = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(messages):
        with lock:
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
        time.sleep(0.02)
        with lock:
            live["now"] -= 1
        return good_answer(messages)

    client = ScriptedChatClient(default=slow, name="openai")
    a = analyzer({"openai": client}, batch_size=5, concurrency=3)
    pairs = make_pairs(60)
    res = asyncio.run(a.analyze_async(pairs))
    assert [r.pair_id for r in res] == [p.pair_id for p in pairs] and {r.source for r in res} == {"llm"}
    assert len(client.calls) == 12 and live["max"] == 3
