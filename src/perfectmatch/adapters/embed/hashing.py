"""``HashingEmbedder``: the offline default text embedder — no network, no model download.

It is a signed feature-hashing bag of words, word bigrams and character 4-grams with sublinear
term weights, projected to ``dim`` buckets and L2-normalised (the "hashing trick" of Weinberger
et al., 2009). It captures lexical overlap only: two answers that share words ("hiking", "dogs",
"weekend trips") score high, paraphrases with no shared words score near zero. It is
deterministic across machines and Python versions (blake2b, not ``hash()``), so vectors are
stable and reproducible. For semantic similarity, use the OpenAI embeddings adapter.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = frozenset(
    "a an the and or but if of to in on at for with from by about as is are was were be been am i me my we our "
    "you your he she it they them their this that these those do does did have has had not no so very just "
    "really what which who when where how than then there here also too can will would could should".split()
)


class HashingEmbedder:
    """``ports.Embedder`` by feature hashing; ``version`` encodes every parameter."""

    def __init__(self, dim: int = 128, *, char_ngrams: int = 4) -> None:
        if dim < 8:
            raise ValueError(f"dim must be at least 8, got {dim}")
        self.dim = dim
        self._n = char_ngrams
        self.version = f"hashing-v1-d{dim}-c{char_ngrams}"
        self._memo: dict[str, tuple[int, float]] = {}

    def _features(self, text: str) -> dict[str, float]:
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
        counts: dict[str, float] = {}
        for w in words:
            counts["w:" + w] = counts.get("w:" + w, 0.0) + 1.0
            padded = f" {w} "
            for k in range(max(1, len(padded) - self._n + 1)):
                g = "c:" + padded[k : k + self._n]
                counts[g] = counts.get(g, 0.0) + 0.25
        for a, b in itertools.pairwise(words):
            key = f"b:{a}_{b}"
            counts[key] = counts.get(key, 0.0) + 1.0
        return counts

    def _bucket(self, feat: str) -> tuple[int, float]:
        """Bucket and sign of a feature (memoised: vocabularies repeat across users)."""
        hit = self._memo.get(feat)
        if hit is None:
            h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
            hit = (h % self.dim, 1.0 if h >> 63 else -1.0)
            if len(self._memo) < 1_000_000:
                self._memo[feat] = hit
        return hit

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Shape ``(len(texts), dim)`` float32; empty or stop-word-only texts give a zero row."""
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for row, text in enumerate(texts):
            for feat, count in self._features(text or "").items():
                col, sign = self._bucket(feat)
                rows.append(row)
                cols.append(col)
                vals.append(sign * (1.0 + math.log(count)) if count >= 1 else sign * count)
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        np.add.at(out, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)), vals)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0).astype(np.float32)
