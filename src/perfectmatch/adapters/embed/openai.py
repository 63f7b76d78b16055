"""``OpenAIEmbedder``: ``ports.Embedder`` over the OpenAI embeddings endpoint (never routed to DeepSeek)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perfectmatch.adapters.llm.openai_compat import OpenAICompatClient
from perfectmatch.errors import ConfigError


class OpenAIEmbedder:
    """Embeds texts in chunks of ``chunk_size``; rows are L2-normalised, empty texts give zero rows.

    Parameters
    ----------
    client
        An ``OpenAICompatClient`` whose profile supports embeddings (OpenAI, not DeepSeek).
    model, dim
        Embedding model and output dimension (sent as ``dimensions``).
    """

    def __init__(self, client: OpenAICompatClient, *, model: str = "text-embedding-3-small", dim: int = 256,
                 chunk_size: int = 256, timeout_s: float = 30.0) -> None:
        if not client.profile.embeddings:
            raise ConfigError(f"{client.name} has no embeddings endpoint; use OpenAI for embeddings")
        self.client = client
        self.model = model
        self.dim = dim
        self.chunk_size = chunk_size
        self.timeout_s = timeout_s
        self.version = f"openai:{model}:{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return shape ``(len(texts), dim)`` float32, rows L2-normalised (zeros for empty text)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        idx = [i for i, t in enumerate(texts) if t and t.strip()]
        for start in range(0, len(idx), self.chunk_size):
            chunk = idx[start : start + self.chunk_size]
            rows = self.client.embed([texts[i] for i in chunk], model=self.model, timeout_s=self.timeout_s,
                                     dimensions=self.dim)
            mat = np.asarray(rows, dtype=np.float32)[:, : self.dim]
            norms = np.linalg.norm(mat, axis=1, keepdims=True)
            out[chunk] = np.divide(mat, norms, out=np.zeros_like(mat), where=norms > 0)
        return out
