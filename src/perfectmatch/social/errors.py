"""Typed errors of the social journeys (all ``PerfectMatchError``; bad input changes nothing).

::

    PerfectMatchError
      SocialError
        SelfActionError        like, block or message yourself (also an InvalidInputError)
        NotMatchedError        no visible match between the two users
        BlockedError           one of the pair blocked the other
        NotMutualError         messaging before a mutual like, or in a disabled conversation
        PremiumRequiredError   a premium feature asked for by a free user
        DeliveryFailed         the notifier kept failing after every retry
"""

from __future__ import annotations

from perfectmatch.errors import InvalidInputError, PerfectMatchError


class SocialError(PerfectMatchError):
    """Base for likes, blocks, chat and notification problems."""


class SelfActionError(SocialError, InvalidInputError):
    """A user tried to like, block, unmatch or message themselves."""


class NotMatchedError(SocialError):
    """The two users have no visible (offered or mutual) match."""


class BlockedError(SocialError):
    """One of the two users blocked the other; nothing between them is allowed any more."""


class NotMutualError(SocialError):
    """Messaging needs a mutual like and an active conversation."""


class PremiumRequiredError(SocialError):
    """The feature is for premium users only."""


class DeliveryFailed(SocialError):
    """A notifier raised on every attempt; ``attempts`` says how many were made."""

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts
