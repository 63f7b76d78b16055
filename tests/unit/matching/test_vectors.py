"""Profile vectors: unit rows, dot = weighted mean of block cosines, versioning."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perfectmatch.adapters.embed.hashing import HashingEmbedder
from perfectmatch.matching.vectors import TEXT_BLOCK, VectorSpec, completeness, cosine_threshold
from perfectmatch.questionnaire import default_bank
from perfectmatch.questionnaire.encoding import FeatureLayout

LAYOUT = FeatureLayout.from_bank(default_bank())
SPEC = VectorSpec(LAYOUT, HashingEmbedder(dim=32))


def random_answers(rng: np.random.Generator, n: int) -> np.ndarray:
    """A valid answer matrix: option indices / bitmasks / values per column, some unanswered."""
    cols = []
    for qid in LAYOUT.question_ids:
        q = default_bank().questions[qid]
        if q.type.value == "single_choice":
            col = rng.integers(0, len(q.options), n).astype(float)
        elif q.type.value == "multiple_choice":
            col = rng.integers(1, 2 ** len(q.options), n).astype(float)
        else:
            lo, hi = q.bounds
            col = rng.uniform(lo, hi, n).round()
        col[rng.random(n) < 0.1] = np.nan
        cols.append(col)
    return np.stack(cols, axis=1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 12))
def test_rows_are_unit_and_dot_is_weighted_block_cosine(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    feats, _ = LAYOUT.encode_matrix(random_answers(rng, n))
    texts = [str(rng.choice(["I love hiking and dogs", "opera and wine", ""])) for _ in range(n)]
    vecs = SPEC.build(feats, SPEC.embed_answers({"o1": texts}, n))
    norms = np.linalg.norm(vecs, axis=1)
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)
    full = np.array([bool(t) for t in texts])  # every block present when the text is non-empty
    a, b = vecs[:-1], vecs[1:]
    cos = SPEC.block_cosines(a, b)
    both = full[:-1] & full[1:]
    expected = sum(SPEC.weights[k] * cos[k] for k in cos)
    np.testing.assert_allclose((a * b).sum(axis=1)[both], expected[both], atol=1e-4)


def test_identical_answers_are_identical_vectors_and_empty_is_zero() -> None:
    rng = np.random.default_rng(0)
    answers = random_answers(rng, 1)
    feats, _ = LAYOUT.encode_matrix(np.vstack([answers, answers, np.full_like(answers, np.nan)]))
    vecs = SPEC.build(feats, SPEC.embed_answers({"o1": ["same words", "same words", None]}, 3))
    assert np.isclose(vecs[0] @ vecs[1], 1.0, atol=1e-5)
    assert not vecs[2].any()
    assert set(SPEC.slices) == {"RC", "CS", "EI", "LC", "CV", TEXT_BLOCK}


def test_block_projection_keeps_unit_rows_and_block_cosines() -> None:
    spec = VectorSpec(LAYOUT, HashingEmbedder(dim=32), block_dim=8)
    rng = np.random.default_rng(5)
    feats, _ = LAYOUT.encode_matrix(random_answers(rng, 6))
    vecs = spec.build(feats, spec.embed_answers({"o1": ["hiking dogs"] * 6}, 6))
    assert spec.dim <= 6 * 8 and vecs.shape == (6, spec.dim)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = spec.block_cosines(vecs[:-1], vecs[1:])
    np.testing.assert_allclose((vecs[:-1] * vecs[1:]).sum(axis=1), sum(spec.weights[k] * cos[k] for k in cos),
                               atol=1e-4)
    assert spec.version != VectorSpec(LAYOUT, HashingEmbedder(dim=32)).version


def test_version_names_every_input() -> None:
    assert SPEC.version != VectorSpec(LAYOUT, HashingEmbedder(dim=64)).version
    assert SPEC.version != VectorSpec(LAYOUT, HashingEmbedder(dim=32), text_weight=0.3).version
    assert SPEC.version.startswith(default_bank().version)


def test_completeness_and_threshold() -> None:
    values = np.array([[1.0, 2.0], [np.nan, np.nan]])
    np.testing.assert_allclose(completeness(values, np.array([3, 0])), [1.0, 0.8])
    assert np.isclose(cosine_threshold(0.65), 0.3)


def test_text_block_is_the_sum_of_answer_embeddings() -> None:
    cols = {"o1": ["hiking with dogs", "opera", None], "o2": ["beach days", None, None]}
    got = SPEC.embed_answers(cols, 3)
    emb = SPEC.embedder.embed
    np.testing.assert_allclose(got[0], emb(["hiking with dogs"])[0] + emb(["beach days"])[0], atol=1e-6)
    np.testing.assert_allclose(got[1], emb(["opera"])[0], atol=1e-6)
    assert not got[2].any()
