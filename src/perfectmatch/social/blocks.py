"""Unmatch and block: the pair leaves both match lists at once, cache included, and for good.

Both set the pair's match status (``unmatched`` / ``blocked``), disable their conversation and
delete both users' ``recent_matches:<user>`` cache entries (written by ``batch_stages.cache_stage``)
so no cached list shows the other. The match row itself stays, and a block adds a ``blocks`` row:
``SqlBatchStore.excluded_pair_keys`` reads both, so no future batch offers the pair again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfectmatch.errors import NotFound
from perfectmatch.models import Block, MatchStatus, UserId
from perfectmatch.social.errors import NotMatchedError, SelfActionError
from perfectmatch.social.likes import HIDDEN, active_user, lock_pair, pair


@dataclass(frozen=True)
class Separation:
    """What ``unmatch``/``block`` changed."""

    user: UserId
    other: UserId
    status: str  # the match status now: "unmatched" or "blocked"
    match_changed: bool
    conversation_disabled: bool


def block(app: Any, blocker: UserId, blocked: UserId) -> Separation:
    """``blocker`` blocks ``blocked``: nothing of either stays visible to the other, ever.

    Works with or without a match between them; blocking twice changes nothing more.

    Raises
    ------
    SelfActionError, NotFound
        Nothing is stored.
    """
    now = app.clock.now()
    if blocker == blocked:
        raise SelfActionError(f"cannot block yourself (user {blocker})")
    with app.uow as uow:
        lock_pair(uow, blocker, blocked)
        active_user(uow, blocker)
        if uow.users.find(blocked) is None:
            raise NotFound(f"user {blocked} not found")
        if uow.blocks.find((blocker, blocked)) is None:
            uow.blocks.add(Block(blocker=blocker, blocked=blocked, created_at=now))
        changed, disabled = _separate(uow, blocker, blocked, MatchStatus.BLOCKED)
        uow.commit()
    _forget_cached(app, blocker, blocked)
    return Separation(blocker, blocked, MatchStatus.BLOCKED.value, changed, disabled)


def unmatch(app: Any, user: UserId, other: UserId) -> Separation:
    """``user`` ends the match with ``other``: gone from both lists, conversation disabled.

    Raises
    ------
    SelfActionError, NotFound, NotMatchedError
        Nothing is changed.
    """
    if user == other:
        raise SelfActionError(f"cannot unmatch yourself (user {user})")
    with app.uow as uow:
        lock_pair(uow, user, other)
        active_user(uow, user)
        match = uow.matches.find(pair(user, other))
        if match is None or match.status in HIDDEN:
            raise NotMatchedError(f"users {user} and {other} have no match to end")
        changed, disabled = _separate(uow, user, other, MatchStatus.UNMATCHED)
        uow.commit()
    _forget_cached(app, user, other)
    return Separation(user, other, MatchStatus.UNMATCHED.value, changed, disabled)


def _separate(uow: Any, a: UserId, b: UserId, status: MatchStatus) -> tuple[bool, bool]:
    changed = disabled = False
    match = uow.matches.find(pair(a, b))
    if match is not None and match.status is not MatchStatus.BLOCKED and match.status is not status:
        uow.matches.add(match.model_copy(update={"status": status}))
        changed = True
    lo, hi = pair(a, b)
    for conv in uow.conversations.where(user_a=lo, user_b=hi):
        if conv.active:
            uow.conversations.add(conv.model_copy(update={"active": False}))
            disabled = True
    return changed, disabled


def _forget_cached(app: Any, a: UserId, b: UserId) -> None:
    """Drop both users' cached recent-match lists (rebuilt from storage, which hides the pair)."""
    if app.cache is not None:
        for uid in (a, b):
            app.cache.delete(f"recent_matches:{uid}")
