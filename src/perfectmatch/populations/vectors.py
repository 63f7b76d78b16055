"""Profile vectors straight from a simulated answer matrix (no per-user parsing): used when a
population is created, as the spec creates vectors at profile creation, and by benchmarks."""

from __future__ import annotations

import numpy as np

from perfectmatch.frame import VectorSet
from perfectmatch.matching.vectors import VectorSpec, completeness
from perfectmatch.populations.answers import AnswerMatrix


def answer_matrix_vectors(spec: VectorSpec, answers: AnswerMatrix, ids: np.ndarray) -> VectorSet:
    """Vectors of the users whose answers are ``answers`` (row ``i`` belongs to ``ids[i]``)."""
    layout = spec.layout
    cols = [answers.question_ids.index(q) for q in layout.question_ids]
    values, importance = answers.values[:, cols], answers.importance[:, cols]
    feats, imp = layout.encode_matrix(values, importance)
    n = len(answers)
    texts = {k: [None if v is None or v != v else str(v) for v in col] for k, col in answers.open_texts.items()}
    n_texts = np.zeros(n, dtype=np.int64)
    for col in texts.values():
        n_texts += np.array([bool(t) for t in col])
    return VectorSet(
        version=spec.version,
        ids=np.asarray(ids, dtype=np.int64),
        vecs=spec.build(feats, spec.embed_answers(texts, n)),
        importance=imp,
        completeness=completeness(values, n_texts),
    )
