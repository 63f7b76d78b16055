"""Properties: no message without a mutual like; after a block nothing of the pair shows to either side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from perfectmatch.discovery import list_matches
from perfectmatch.errors import PerfectMatchError
from perfectmatch.models import MatchStatus, Tier
from perfectmatch.social import blocks, chat, likes
from perfectmatch.social.errors import BlockedError, NotMutualError, SocialError
from perfectmatch.social.likes import pair
from perfectmatch.social.wiring import services

OPS = ("like", "block", "unmatch", "send", "history")
actions = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=14)


def user_ids(app: Any) -> list[int]:
    with app.uow as uow:
        return sorted(int(u.id) for u in uow.users.where())


def _may_message(app: object, a: int, b: int) -> bool:
    with app.uow as uow:  # type: ignore[attr-defined]
        match = uow.matches.find(pair(a, b))
        return (
            a != b
            and uow.likes.find((a, b)) is not None
            and uow.likes.find((b, a)) is not None
            and not likes.is_blocked(uow, a, b)
            and match is not None
            and match.status is MatchStatus.MUTUAL
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions)
@example(steps=[("like", 0, 1), ("like", 1, 0), ("send", 0, 1), ("history", 1, 0), ("block", 1, 0)])
@example(steps=[("like", 2, 3), ("like", 3, 2), ("unmatch", 2, 3), ("send", 3, 2), ("like", 2, 3)])
def test_messages_need_a_mutual_like_and_blocks_hide_everything(make_app: Callable[..., Any], steps: list) -> None:
    app = make_app()
    ids = user_ids(app)[:6]
    with app.uow as uow:  # premium users see who liked them: make everyone premium to check that list too
        for uid in ids:
            uow.users.add(uow.users.get(uid).model_copy(update={"tier": Tier.PREMIUM}))
        uow.commit()
    sent: list[tuple[int, int]] = []
    for op, i, j in steps:
        a, b = ids[i], ids[j]
        allowed = _may_message(app, a, b)
        try:
            if op == "like":
                likes.like(app, a, b)
            elif op == "block":
                blocks.block(app, a, b)
            elif op == "unmatch":
                blocks.unmatch(app, a, b)
            elif op == "send":
                chat.send_message(app, a, b, f"{a}->{b}")
                assert allowed, f"message {a}->{b} sent without a mutual like"
                sent.append((a, b))
            else:
                chat.history(app, a, b)
                assert allowed
        except (SocialError, PerfectMatchError):
            assert op not in ("send", "history") or not allowed, f"{op} {a}->{b} refused despite a mutual like"
    if steps[:3] == [("like", 0, 1), ("like", 1, 0), ("send", 0, 1)]:
        assert sent == [(ids[0], ids[1])]  # the explicit example really exercises a successful send
    service = services(app).notifications
    with app.uow as uow:
        blocked = [(x.blocker, x.blocked) for x in uow.blocks.where()]
    for x, y in blocked:
        for me, other in ((x, y), (y, x)):
            assert other not in [v.user_id for v in list_matches(app, me)]
            assert other not in [c["user_id"] for c in chat.conversations_of(app, me)]
            assert other not in [r["user_id"] for r in likes.likers_of(app, me)]
            assert all(other not in (n.content.get("userId"), n.content.get("senderId"))
                       for n in service.inbox(me))
            with pytest.raises(BlockedError):
                chat.history(app, me, other)
            with pytest.raises(BlockedError):
                chat.send_message(app, me, other, "?")
            with pytest.raises((BlockedError, NotMutualError)):
                likes.like(app, me, other)
