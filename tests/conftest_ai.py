"""AI test support: pair builders, a fake-server fixture factory and analyzer wiring against it.

Imported by the ``conftest.py`` of ``tests/unit/ai`` and ``tests/integration/ai``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.ai.fake_server import FakeOpenAIServer
from perfectmatch.ports import PairContext

DIMS = ("CV", "CS", "RC", "LC", "EI")


def make_pair(i: int, *, goal: str = "serious", note: str = "I love hiking", offset: int = 0) -> PairContext:
    """A plausible pair with deterministic, pair-specific similarities."""
    sims = {d: round(0.3 + ((i * 7 + k * 13 + offset) % 70) / 100, 3) for k, d in enumerate(DIMS)}
    return PairContext(
        pair_id=f"pair-{i}",
        user_a=i,
        user_b=100_000 + i,
        data_a={"goal": goal, "hobbies": ["hiking", "reading"], "about": note, "q_kids": i % 3},
        data_b={"goal": goal, "hobbies": ["hiking"], "about": f"user {i} likes tea", "q_kids": (i + 1) % 3},
        similarities=sims,
        vector_score=sum(sims.values()) / len(sims),
    )


def make_pairs(n: int, start: int = 0) -> list[PairContext]:
    return [make_pair(i) for i in range(start, start + n)]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_openai() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """Factory fixture: ``fake_openai(fault_rate=0.2, ...)`` starts a server, stopped after the test."""
    servers: list[FakeOpenAIServer] = []

    def start(**kwargs: Any) -> FakeOpenAIServer:
        kwargs.setdefault("hang_s", 1.5)
        srv = FakeOpenAIServer(**kwargs).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
