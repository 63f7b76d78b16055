"""Entitlements: the one feature-access check, cached and invalidated when a subscription changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from perfectmatch.billing.subscription import Account, is_premium
from perfectmatch.models import Tier, UserId
from perfectmatch.ports import Cache, Clock


class Feature(StrEnum):
    """Premium-only features (the daily cap is a number, see ``Entitlements.daily_match_cap``)."""

    FULL_MATCH_LIST = "full_match_list"
    WHO_LIKED_ME = "who_liked_me"
    PREMIUM_INSIGHTS = "premium_insights"
    AI_STARTERS = "ai_conversation_starters"


@dataclass(frozen=True)
class Entitlements:
    """What a user may use right now."""

    user_id: UserId
    tier: Tier
    daily_match_cap: int
    features: frozenset[Feature]
    valid_until: datetime | None  # when this answer may change by itself (end of the paid period)

    def can(self, feature: Feature) -> bool:
        return feature in self.features


def entitlements_for(
    account: Account | None, user_id: UserId, now: datetime, *, free_cap: int = 10, premium_cap: int = 50,
    tier_without_account: Tier = Tier.FREE,
) -> Entitlements:
    """Compute a user's entitlements at ``now`` from their billing account.

    Premium needs a paid period running at ``now`` (``subscription.is_premium``); caps default to
    the spec's 10 (free) and 50 (premium) new matches a day. A user with no billing history at all
    (``account`` is ``None``: imported or seeded data) gets ``tier_without_account``.
    """
    if is_premium(account, now):
        assert account is not None
        return Entitlements(user_id, Tier.PREMIUM, premium_cap, frozenset(Feature), account.period_end)
    if account is None and tier_without_account is Tier.PREMIUM:
        return Entitlements(user_id, Tier.PREMIUM, premium_cap, frozenset(Feature), None)
    return Entitlements(user_id, Tier.FREE, free_cap, frozenset(), None)


class EntitlementCheck:
    """``check(user_id)`` with a cache in front; ``invalidate(user_id)`` on every subscription change.

    Cached entries never outlive the paid period: their TTL ends at ``valid_until``.
    """

    def __init__(
        self,
        load: Callable[[UserId], Account | None],
        clock: Clock,
        cache: Cache | None = None,
        *,
        ttl_s: float = 300.0,
        free_cap: int = 10,
        premium_cap: int = 50,
        stored_tier: Callable[[UserId], Tier] | None = None,
    ) -> None:
        self._load = load
        self._clock = clock
        self._cache = cache
        self._ttl_s = ttl_s
        self._caps = (free_cap, premium_cap)
        self._stored_tier = stored_tier  # for users without any billing history

    @staticmethod
    def key(user_id: UserId) -> str:
        return f"billing:entitlements:{user_id}"

    def check(self, user_id: UserId) -> Entitlements:
        """Return the user's current entitlements (from the cache when fresh)."""
        now = self._clock.now()
        if self._cache is not None:
            hit = self._cache.get(self.key(user_id))
            if hit is not None:
                until = datetime.fromisoformat(hit["valid_until"]) if hit["valid_until"] else None
                if until is None or now < until:
                    return Entitlements(
                        user_id, Tier(hit["tier"]), hit["cap"], frozenset(Feature(f) for f in hit["features"]), until
                    )
        account = self._load(user_id)
        seeded = self._stored_tier(user_id) if account is None and self._stored_tier is not None else Tier.FREE
        ent = entitlements_for(account, user_id, now, free_cap=self._caps[0], premium_cap=self._caps[1],
                               tier_without_account=seeded)
        if self._cache is not None and account is not None:  # a stored tier without billing is read fresh
            ttl = self._ttl_s
            if ent.valid_until is not None:
                ttl = max(0.001, min(ttl, (ent.valid_until - now).total_seconds()))
            value = {
                "tier": ent.tier.value,
                "cap": ent.daily_match_cap,
                "features": sorted(f.value for f in ent.features),
                "valid_until": ent.valid_until.isoformat() if ent.valid_until else None,
            }
            self._cache.set(self.key(user_id), value, ttl_s=ttl)
        return ent

    def can(self, user_id: UserId, feature: Feature) -> bool:
        """True when ``user_id`` may use ``feature`` now."""
        return self.check(user_id).can(feature)

    def invalidate(self, user_id: UserId) -> None:
        """Forget the cached answer (called the moment a subscription changes)."""
        if self._cache is not None:
            self._cache.delete(self.key(user_id))
