"""Profile-completion queue (in memory and durable SQLite) and provider auto-selection."""

from __future__ import annotations

import json

import pytest

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.llm import ScriptedChatClient
from perfectmatch.ai import (
    InMemoryAnalysisQueue,
    analyze_profile_or_enqueue,
    build_analyzer,
    drain_queue,
    plan_providers,
)
from perfectmatch.config import AISettings
from perfectmatch.errors import ConfigError, ProviderError

PROFILE = json.dumps({"summary": "Kind.", "keyTraits": ["a", "b", "c"]})


def analyzer(client: ScriptedChatClient):
    return build_analyzer(AISettings(openai_api_key="k", backoff_base_s=0, openai_rpm=0, openai_tpm=0),
                          clock=FakeClock(), environ={}, make_client=lambda spec: client, sleep=lambda s: None)


@pytest.fixture
def make_queue():
    """The same in-memory queue each call (the durable SQL queue has its own contract test)."""
    clock = FakeClock()

    def make():
        if not hasattr(make, "q"):
            make.q = InMemoryAnalysisQueue(clock)
        return make.q

    make.clock = clock
    return make


def test_queue_when_ai_down_and_drain_later(make_queue) -> None:
    q = make_queue()
    down = analyzer(ScriptedChatClient(default=ProviderError("openai", "down"), name="openai"))
    assert analyze_profile_or_enqueue(down, q, 7, {"goal": "serious"}).source == "fallback"
    analyze_profile_or_enqueue(down, q, 8, {"goal": "casual"})
    analyze_profile_or_enqueue(down, q, 7, {"goal": "serious", "kids": "no"})  # replaces user 7's request
    q2 = make_queue()  # a restart: same file
    assert q2.pending() == 2
    report = drain_queue(q2, down)
    assert (report.analysed, report.released, report.remaining) == (0, 2, 2)
    stored: dict[int, object] = {}
    up = analyzer(ScriptedChatClient(default=PROFILE, name="openai"))
    report = drain_queue(make_queue(), up, store=lambda uid, res: stored.__setitem__(uid, res))
    assert (report.analysed, report.remaining) == (2, 0) and set(stored) == {7, 8}


def test_claimed_items_come_back_after_the_lease(make_queue) -> None:
    q = make_queue()
    q.enqueue(1, {"a": 1})
    assert len(q.claim(10, lease_s=60)) == 1
    assert q.claim(10, lease_s=60) == []
    make_queue.clock.advance(61)
    again = q.claim(10)
    assert [i.user_id for i in again] == [1] and again[0].payload == {"a": 1}


@pytest.mark.parametrize(
    ("env", "provider", "expected"),
    [
        ({}, "auto", (None, None)),
        ({"OPENAI_API_KEY": "o"}, "auto", ("openai", None)),
        ({"OPENAI_API_KEY": "o", "DEEPSEEK_API_KEY": "d"}, "auto", ("openai", "deepseek")),
        ({"DEEPSEEK_API_KEY": "d"}, "auto", ("deepseek", None)),
        ({"OPENAI_API_KEY": "o", "DEEPSEEK_API_KEY": "d"}, "local", (None, None)),
        ({"OPENAI_API_KEY": "o", "DEEPSEEK_API_KEY": "d"}, "deepseek", ("deepseek", None)),
    ],
)
def test_provider_auto_selection(env, provider, expected) -> None:
    plan = plan_providers(AISettings(provider=provider), env)
    got = (plan.primary.name if plan.primary else None, plan.backup.name if plan.backup else None)
    assert got == expected
    assert ("local fallback" in plan.description)


def test_base_urls_and_missing_keys() -> None:
    env = {"OPENAI_API_KEY": "o", "OPENAI_BASE_URL": "http://x/v1", "DEEPSEEK_API_KEY": "d",
           "DEEPSEEK_BASE_URL": "http://y/v1"}
    plan = plan_providers(AISettings(), env)
    assert plan.primary.base_url == "http://x/v1" and plan.backup.base_url == "http://y/v1"
    assert "openai (gpt-4o-mini) with deepseek (deepseek-chat) as backup" in plan.description
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        plan_providers(AISettings(provider="openai"), {})


def test_default_client_factory_builds_openai_compatible_clients() -> None:
    from perfectmatch.adapters.llm import OpenAICompatClient, client_for

    env = {"OPENAI_API_KEY": "k", "DEEPSEEK_API_KEY": "d"}
    with pytest.raises(ConfigError, match="make_client"):
        build_analyzer(AISettings(), environ=env)
    a = build_analyzer(AISettings(), environ=env, make_client=client_for)
    clients = {n: p.client for n, p in a.engine.providers.items()}
    assert all(isinstance(c, OpenAICompatClient) for c in clients.values())
    assert clients["deepseek"].profile.json_schema_mode is False and a.uses_provider
    assert not build_analyzer(AISettings(), environ={}).uses_provider
