"""Likes: one-sided likes stay hidden from the recipient; a mutual like opens a conversation.

A like is only possible on a visible match (offered or mutual), never on a blocked pair. When the
other side has already liked, the match becomes ``mutual``, a conversation is created (or found)
and, after the commit, a ``MutualMatched`` event notifies both users. Premium users can list who
liked them (``likers_of``); free users get only an anonymous ``like`` notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perfectmatch.billing.entitlements import Feature
from perfectmatch.errors import NotFound
from perfectmatch.models import Conversation, Like, Match, MatchStatus, User, UserId, UserStatus
from perfectmatch.social.errors import BlockedError, NotMatchedError, PremiumRequiredError, SelfActionError
from perfectmatch.social.events import LikeReceived, MutualMatched
from perfectmatch.social.wiring import services

HIDDEN = (MatchStatus.UNMATCHED, MatchStatus.BLOCKED)


@dataclass(frozen=True)
class LikeResult:
    """The outcome of ``like``: whether the pair is now mutual and their conversation id if so."""

    liker: UserId
    likee: UserId
    mutual: bool
    conversation_id: int | None
    new: bool  # False when this like existed already (liking twice changes nothing)


def pair(a: UserId, b: UserId) -> tuple[UserId, UserId]:
    """The pair in storage order (smaller id first), as matches and conversations keep it."""
    return (a, b) if a < b else (b, a)


def active_user(uow: Any, user_id: UserId) -> User:
    """The user, if it exists and is active.

    Raises
    ------
    NotFound
        Unknown, suspended or deleted user.
    """
    user = uow.users.find(user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if user.status is not UserStatus.ACTIVE:
        raise NotFound(f"user {user_id} is {user.status.value}")
    return user


def is_blocked(uow: Any, a: UserId, b: UserId) -> bool:
    """Whether either user blocked the other."""
    return uow.blocks.find((a, b)) is not None or uow.blocks.find((b, a)) is not None


def check_pair(uow: Any, a: UserId, b: UserId, action: str) -> tuple[User, User]:
    """Both users active, different and not blocked; raises the matching typed error otherwise."""
    if a == b:
        raise SelfActionError(f"cannot {action} yourself (user {a})")
    ua, ub = active_user(uow, a), active_user(uow, b)
    if is_blocked(uow, a, b):
        raise BlockedError(f"user {a} or user {b} has blocked the other; cannot {action}")
    return ua, ub


def lock_pair(uow: Any, a: UserId, b: UserId) -> None:
    """Serialise every social change of one pair: the first statement of its transaction.

    PostgreSQL takes a row lock on the pair's match (``SELECT ... FOR UPDATE``); SQLite takes the
    database write lock with a no-op update. Without it two users liking each other at the same
    moment could both miss the other's like, or a like could overwrite a concurrent block.
    """
    from sqlalchemy import select, update

    from perfectmatch.adapters.storage.schema import matches as m

    lo, hi = pair(a, b)
    where = (m.c.user_a == lo) & (m.c.user_b == hi)
    conn = uow.connection
    if conn.dialect.name == "postgresql":
        conn.execute(select(m.c.status).where(where).with_for_update())
    else:
        conn.execute(update(m).where(where).values(status=m.c.status))


def visible_match(uow: Any, a: UserId, b: UserId) -> Match:
    """The pair's match if it is offered or mutual.

    Raises
    ------
    NotMatchedError
        No match, or it was unmatched or blocked.
    """
    match = uow.matches.find(pair(a, b))
    if match is None or match.status in HIDDEN:
        raise NotMatchedError(f"users {a} and {b} have no match")
    return match


def like(app: Any, liker: UserId, likee: UserId) -> LikeResult:
    """Record that ``liker`` likes ``likee``; on a mutual like open their conversation.

    Parameters
    ----------
    app
        The ``bootstrap.App``.
    liker, likee
        User ids; they must share a visible match.

    Returns
    -------
    LikeResult

    Raises
    ------
    SelfActionError, NotFound, BlockedError, NotMatchedError
        Nothing is stored in any of these cases.
    """
    now = app.clock.now()
    if liker == likee:
        raise SelfActionError(f"cannot like yourself (user {liker})")
    with app.uow as uow:
        lock_pair(uow, liker, likee)
        check_pair(uow, liker, likee, "like")
        match = visible_match(uow, liker, likee)
        new = uow.likes.find((liker, likee)) is None
        if new:
            uow.likes.add(Like(liker=liker, likee=likee, created_at=now))
        mutual = uow.likes.find((likee, liker)) is not None
        conversation_id = None
        if mutual:
            if match.status is not MatchStatus.MUTUAL:
                uow.matches.add(match.model_copy(update={"status": MatchStatus.MUTUAL}))
            conversation_id = _open_conversation(uow, liker, likee, now)
        uow.commit()
    bus = services(app).bus
    if new and mutual:
        a, b = pair(liker, likee)
        bus.publish(MutualMatched(user_a=a, user_b=b, conversation_id=conversation_id or 0,
                                  score=match.final_score, at=now))
    elif new:
        bus.publish(LikeReceived(liker=liker, likee=likee, at=now))
    return LikeResult(liker=liker, likee=likee, mutual=mutual, conversation_id=conversation_id, new=new)


def _open_conversation(uow: Any, a: UserId, b: UserId, now: Any) -> int:
    lo, hi = pair(a, b)
    found = uow.conversations.where(user_a=lo, user_b=hi)
    if found:
        conv = found[0]
        if not conv.active:
            uow.conversations.add(conv.model_copy(update={"active": True}))
        return int(conv.id)
    return int(uow.conversations.add(Conversation(user_a=lo, user_b=hi, created_at=now)).id)


def likers_of(app: Any, user_id: UserId) -> list[dict[str, Any]]:
    """Who liked ``user_id`` without being liked back yet, newest first (premium users only).

    Blocked pairs and hidden (unmatched) matches never appear.

    Raises
    ------
    NotFound
        Unknown or inactive user.
    PremiumRequiredError
        ``user_id`` is on the free tier.
    """
    with app.uow as uow:
        user = active_user(uow, user_id)
        if not app.entitlements.can(user.id, Feature.WHO_LIKED_ME):
            raise PremiumRequiredError(f"user {user_id} is on the free tier: seeing who liked you is premium")
        received = uow.likes.where(likee=user_id)
        out = []
        for lk in sorted(received, key=lambda x: x.created_at, reverse=True):
            if uow.likes.find((user_id, lk.liker)) is not None or is_blocked(uow, user_id, lk.liker):
                continue
            match = uow.matches.find(pair(user_id, lk.liker))
            if match is None or match.status in HIDDEN:
                continue
            if uow.users.get(lk.liker).status is not UserStatus.ACTIVE:  # suspended or erased: not shown
                continue
            out.append({"user_id": lk.liker, "liked_at": lk.created_at.isoformat(), "score": match.final_score})
    return out


def likes_sent(app: Any, user_id: UserId) -> list[UserId]:
    """The users ``user_id`` has liked (their own likes are always visible to them)."""
    with app.uow as uow:
        active_user(uow, user_id)
        return sorted(lk.likee for lk in uow.likes.where(liker=user_id))
