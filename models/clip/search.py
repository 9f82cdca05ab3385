"""Text search and zero-shot classification on embeddings: plain numpy, no model call.

Index rows are unit vectors (the index writer guarantees it), so a cosine similarity is one dot
product; 100k chips x 512 dimensions is one matrix-vector product of a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..runtime.engine import softmax

_BLOCK_ROWS = 1 << 16  # float16 indexes are widened to float32 this many rows at a time


@dataclass(frozen=True)
class SearchResult:
    rows: np.ndarray  # (K,) index rows, best first
    scores: np.ndarray  # (K,) cosine similarity, descending

    @property
    def ranks(self) -> np.ndarray:
        return np.arange(1, len(self.rows) + 1)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (float32); an all-zero row is refused."""
    vectors = np.atleast_2d(np.asarray(vectors, np.float32))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(norms > 0) or not np.all(np.isfinite(norms)):
        raise UserError("an embedding is zero or not finite; the chip or text gave no usable vector.")
    return vectors / norms


def cosine_similarities(index: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(N, D) unit index rows x (M, D) or (D,) queries -> (N, M) or (N,) cosine similarities."""
    single = np.ndim(queries) == 1
    queries = unit_rows(queries)
    if index.ndim != 2 or index.shape[1] != queries.shape[1]:
        raise UserError(f"the index holds {index.shape[-1]}-dimensional embeddings but the query "
                        f"is {queries.shape[1]}-dimensional: they come from different models.")
    out = np.empty((len(index), len(queries)), np.float32)
    for start in range(0, len(index), _BLOCK_ROWS):
        block = index[start:start + _BLOCK_ROWS].astype(np.float32, copy=False)
        np.matmul(block, queries.T, out=out[start:start + _BLOCK_ROWS])
    return out[:, 0] if single else out


def text_search(index: np.ndarray, query: np.ndarray, top_k: int) -> SearchResult:
    """The ``top_k`` index rows most similar to ``query`` (D,), best first; ties keep row order."""
    return best_rows(cosine_similarities(index, query), top_k)


def best_rows(scores: np.ndarray, top_k: int) -> SearchResult:
    """The ``top_k`` highest ``scores``, best first; equal scores keep row order."""
    if top_k < 1:
        raise UserError(f"TOP_K must be at least 1, got {top_k}.")
    k = min(int(top_k), len(scores))
    if k == 0:
        return SearchResult(np.zeros(0, np.int64), np.zeros(0, np.float32))
    candidates = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    # The partition may cut between equal scores; take every row tied with the k-th best.
    threshold = scores[candidates].min()
    candidates = np.flatnonzero(scores >= threshold)
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    rows = candidates[order]
    return SearchResult(rows.astype(np.int64), scores[rows])


def zero_shot_probabilities(index: np.ndarray, labels: np.ndarray, temperature: float) -> np.ndarray:
    """(N, L) probabilities ``softmax(temperature * cosine)`` over the (L, D) label embeddings."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise UserError(f"TEMPERATURE must be a positive number, got {temperature}.")
    return softmax(cosine_similarities(index, np.atleast_2d(labels)) * np.float32(temperature))
