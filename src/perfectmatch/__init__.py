"""perfectmatch: an open matching engine for dating services."""

from perfectmatch.errors import PerfectMatchError
from perfectmatch.models import (
    Answer,
    Dimension,
    Gender,
    GeoPoint,
    Match,
    Member,
    Preferences,
    Profile,
    QuestionnaireResponse,
    RelationshipGoal,
    Tier,
    User,
    UserStatus,
)

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Dimension",
    "Gender",
    "GeoPoint",
    "Match",
    "Member",
    "PerfectMatchError",
    "Preferences",
    "Profile",
    "QuestionnaireResponse",
    "RelationshipGoal",
    "Tier",
    "User",
    "UserStatus",
    "__version__",
]
