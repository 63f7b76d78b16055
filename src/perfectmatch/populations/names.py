"""Display names for synthetic users: a common first name for the gender plus a last initial."""

from __future__ import annotations

import numpy as np

MEN = (
    "James", "Michael", "Robert", "David", "John", "William", "Daniel", "Matthew", "Joseph", "Christopher",
    "Andrew", "Joshua", "Ryan", "Nicholas", "Tyler", "Brandon", "Kevin", "Justin", "Jacob", "Ethan",
    "Noah", "Liam", "Lucas", "Mason", "Elijah", "Logan", "Aiden", "Carlos", "Luis", "Jose",
    "Miguel", "Diego", "Wei", "Hiroshi", "Arjun", "Rahul", "Omar", "Samuel", "Benjamin", "Alexander",
    "Marcus", "Andre", "Darnell", "Jamal", "Sean", "Patrick", "Eric", "Adam", "Nathan", "Caleb",
)
WOMEN = (
    "Emily", "Jessica", "Ashley", "Sarah", "Jennifer", "Amanda", "Elizabeth", "Megan", "Lauren", "Rachel",
    "Olivia", "Emma", "Sophia", "Isabella", "Ava", "Mia", "Abigail", "Madison", "Chloe", "Grace",
    "Hannah", "Natalie", "Samantha", "Victoria", "Maria", "Sofia", "Camila", "Valentina", "Lucia", "Ana",
    "Mei", "Yuki", "Priya", "Ananya", "Fatima", "Aisha", "Leila", "Nia", "Imani", "Jasmine",
    "Claire", "Julia", "Nora", "Zoe", "Maya", "Leah", "Anna", "Katherine", "Rebecca", "Laura",
)
NEUTRAL = (
    "Alex", "Jordan", "Taylor", "Casey", "Riley", "Avery", "Quinn", "Morgan", "Jamie", "Rowan",
    "Sage", "River", "Skyler", "Emerson", "Finley", "Hayden", "Kai", "Robin", "Charlie", "Drew",
)
INITIALS = tuple("ABCDEFGHIJKLMNOPRSTVWY")
_POOLS = tuple(np.array(p, dtype=object) for p in (MEN, WOMEN, NEUTRAL))


def display_names(rng: np.random.Generator, gender: np.ndarray) -> np.ndarray:
    """One ``"First L."`` display name per user, from the pool of the gender code (``frame.GENDERS``).

    Parameters
    ----------
    rng
        Source of randomness.
    gender
        Gender codes, shape ``(n,)``; codes beyond the pools use the neutral pool.

    Returns
    -------
    np.ndarray
        Names, shape ``(n,)`` object.
    """
    n = gender.shape[0]
    names = np.empty(n, dtype=object)
    draws = rng.random(n)
    for code, pool in enumerate(_POOLS):
        mask = gender == code if code < 2 else gender >= 2
        names[mask] = pool[(draws[mask] * len(pool)).astype(np.int64)]
    initials = np.array([f" {c}." for c in INITIALS], dtype=object)[rng.integers(0, len(INITIALS), n)]
    return names + initials
