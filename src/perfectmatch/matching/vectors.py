"""Profile vectors: questionnaire features and open-text embeddings in one L2-normalised vector.

Layout of a vector (``VectorSpec.slices``): one block per dimension RC, CS, EI, LC, CV, then one
block for the embedding of the user's open-ended answers. Each block is centred (a choice's
one-hot minus ``1/k``, so that agreeing on an option counts for and disagreeing against),
normalised to unit length and scaled by ``sqrt(w)``; the dimension weights are
``(1 - text_weight) / 5`` each. For two complete profiles the dot product is therefore
``sum_b w_b cos_b``, the weighted mean of the per-block cosines — the "vector similarity" the spec
thresholds at 0.65 — and each ``cos_b`` is recoverable for explanations. A block a user did not
answer is zero and the vector is re-normalised, so similarity is measured on what is known.

Optional reduction (``block_dim``): a block wider than ``block_dim`` is multiplied by a fixed,
seeded orthonormal random matrix (Johnson-Lindenstrauss) before normalising, so candidate
generation runs on fewer dimensions. Measured on 2,000 simulated users: 323 -> 167 dimensions
(``block_dim=32``) keeps a 0.96 correlation with the full pair similarities (trait agreement
0.53 vs 0.57); 96 dimensions (16) keeps 0.87 (0.50). Off by default: quality first.

Similarity scale: the spec's "vector similarity" (threshold 0.65) is on ``[0, 1]``; we define it as
the cosine rescaled, ``similarity = (1 + cos) / 2`` (``similarity_from_cosine``), so 0.5 means
unrelated, 1.0 identical and 0.0 opposite. Item-level answers are noisy: even people with identical
latent traits reach a raw cosine of only about 0.5-0.7 over ~90 answers, so a raw-cosine threshold
of 0.65 would pass almost nobody, while ``similarity >= 0.65`` (cosine >= 0.3) keeps the closest
few per cent of pairs (measured on simulated populations, see benchmarks/).

``VectorSpec.version`` names the bank, the feature layout, the embedder and the weights: vectors
stored under another version are stale and are rebuilt (``VectorSet`` carries the version).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from perfectmatch.frame import VectorSet
from perfectmatch.models import Dimension
from perfectmatch.ports import Embedder
from perfectmatch.questionnaire.encoding import FeatureLayout

DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
TEXT_BLOCK = "TEXT"
__all__ = ["TEXT_BLOCK", "VectorSet", "VectorSpec", "completeness", "cosine_threshold", "similarity_from_cosine"]


@dataclass(frozen=True)
class VectorSpec:
    """How vectors are built from a bank's ``FeatureLayout`` and an ``Embedder``."""

    layout: FeatureLayout
    embedder: Embedder
    text_weight: float = 0.15
    block_dim: int | None = None
    _groups: tuple[tuple[int, int], ...] = field(init=False, repr=False)
    _inputs: dict[str, slice] = field(init=False, repr=False)
    _projections: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.text_weight < 1.0:
            raise ValueError(f"text_weight must be in [0, 1), got {self.text_weight}")
        groups: list[tuple[int, int]] = []  # (start, width) of each choice question's one-hot
        names = self.layout.feature_names
        k = 0
        while k < len(names):
            if "=" in names[k]:
                qid = names[k].split("=", 1)[0]
                end = k
                while end < len(names) and names[end].split("=", 1)[0] == qid and "=" in names[end]:
                    end += 1
                groups.append((k, end - k))
                k = end
            else:
                k += 1
        object.__setattr__(self, "_groups", tuple(groups))
        inputs = {d.value: self.layout.slices[d] for d in DIMENSIONS}
        inputs[TEXT_BLOCK] = slice(self.layout.dim, self.layout.dim + self.embedder.dim)
        object.__setattr__(self, "_inputs", inputs)
        projections = {}
        for name, sl in inputs.items():
            width = sl.stop - sl.start
            if self.block_dim is not None and width > self.block_dim:
                # a fixed orthonormal random projection (Johnson-Lindenstrauss): cosines are kept up to
                # a small distortion, and candidate generation works on far fewer dimensions
                seed = int.from_bytes(hashlib.sha1(f"{name}|{width}|{self.block_dim}".encode()).digest()[:8], "little")
                gauss = np.random.default_rng(seed).standard_normal((width, self.block_dim))
                projections[name] = np.linalg.qr(gauss)[0].astype(np.float32)
        object.__setattr__(self, "_projections", projections)

    @property
    def version(self) -> str:
        digest = hashlib.sha1("|".join(self.layout.feature_names).encode()).hexdigest()[:8]
        return (f"{self.layout.bank_version}/{digest}/{self.embedder.version}/t{self.text_weight:g}"
                f"/p{self.block_dim or 0}")

    @property
    def slices(self) -> dict[str, slice]:
        """Block of each dimension (by value) and of ``TEXT`` in the final vector."""
        out, start = {}, 0
        for name, sl in self._inputs.items():
            width = self._projections[name].shape[1] if name in self._projections else sl.stop - sl.start
            out[name] = slice(start, start + width)
            start += width
        return out

    @property
    def weights(self) -> dict[str, float]:
        w = {d.value: (1.0 - self.text_weight) / len(DIMENSIONS) for d in DIMENSIONS}
        w[TEXT_BLOCK] = self.text_weight
        return w

    @property
    def dim(self) -> int:
        return max(sl.stop for sl in self.slices.values())

    def embed_answers(self, columns: Mapping[str, Sequence[str | None]], n: int) -> np.ndarray:
        """The text block input: per user, the sum of the embeddings of their open answers.

        ``columns`` maps each open question to its ``n`` answers (``None``/empty = unanswered).
        Each distinct answer is embedded once, so repeated answers cost nothing.
        """
        out = np.zeros((n, self.embedder.dim), dtype=np.float32)
        for key, col in columns.items():
            if len(col) != n:
                raise ValueError(f"open question {key!r} has {len(col)} answers for {n} users")
            uniq, inverse = np.unique(np.array([c or "" for c in col], dtype=object), return_inverse=True)
            out += self.embedder.embed([str(u) for u in uniq])[inverse]
        return out

    def build(self, features: np.ndarray, text_vecs: np.ndarray) -> np.ndarray:
        """Vectors from encoded features ``(n, layout.dim)`` and text inputs ``(n, embedder.dim)``
        (``embed_answers``).

        Returns shape ``(n, dim)`` float32 with unit rows (a user with no answers at all gets a
        zero row, which matches nobody).
        """
        n = features.shape[0]
        if text_vecs.shape != (n, self.embedder.dim):
            raise ValueError(f"text vectors have shape {text_vecs.shape}, expected {(n, self.embedder.dim)}")
        feats = features.astype(np.float32, copy=True)
        for start, width in self._groups:
            block = feats[:, start : start + width]
            answered = block.sum(axis=1, keepdims=True) > 0
            feats[:, start : start + width] = np.where(answered, block - 1.0 / width, 0.0)
        out = np.zeros((n, self.dim), dtype=np.float32)
        weights = self.weights
        for name, sl in self.slices.items():
            block = feats[:, self._inputs[name]] if name != TEXT_BLOCK else text_vecs.astype(np.float32)
            if name in self._projections:
                block = block @ self._projections[name]
            norms = np.linalg.norm(block, axis=1, keepdims=True)
            unit = np.divide(block, norms, out=np.zeros_like(block), where=norms > 0)
            out[:, sl] = unit * np.float32(np.sqrt(weights[name]))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)

    def block_cosines(self, a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        """Per-block cosine similarity of row pairs ``a[i]``, ``b[i]`` (each ``(m, dim)``); ``nan`` where
        either side left the block empty (unknown: scoring leaves it out rather than calling it neutral)."""
        slices = self.slices
        starts = np.array([sl.start for sl in slices.values()])  # blocks are contiguous and in order
        dot = np.add.reduceat(a * b, starts, axis=1)  # one product and one reduction for every block
        den = np.sqrt(np.add.reduceat(a * a, starts, axis=1) * np.add.reduceat(b * b, starts, axis=1))
        cos = np.divide(dot, den, out=np.full(dot.shape, np.nan, dtype=np.float32), where=den > 0)
        return {name: cos[:, j] for j, name in enumerate(slices)}


def similarity_from_cosine(cos: np.ndarray | float) -> np.ndarray | float:
    """The 0-1 similarity scale used by thresholds: ``(1 + cos) / 2``."""
    return (1.0 + cos) / 2.0


def cosine_threshold(similarity: float) -> float:
    """The cosine a ``similarity`` threshold corresponds to (0.65 -> 0.30)."""
    return 2.0 * similarity - 1.0


def completeness(values: np.ndarray, n_texts: np.ndarray, *, wanted_texts: int = 3) -> np.ndarray:
    """The spec's profile-completeness factor, 0.8-1.0 per user.

    ``0.8 + 0.2 * (0.7 * answered share + 0.3 * min(texts, wanted) / wanted)``: a profile with every
    structured question and three open answers gets 1.0, an empty one 0.8.
    """
    answered = (~np.isnan(values)).mean(axis=1) if values.shape[1] else np.zeros(values.shape[0])
    texts = np.minimum(n_texts, wanted_texts) / wanted_texts
    return (0.8 + 0.2 * (0.7 * answered + 0.3 * texts)).astype(np.float32)
