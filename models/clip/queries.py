"""Text search and zero-shot classification of a stored chip index with a loaded CLIP.

Only the words go through the model: the chips' embeddings are read from the index, which must
have been made with the same model and weights.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..errors import UserError
from .index import ChipIndex
from .model import ClipModel
from .search import SearchResult, text_search, zero_shot_probabilities


def search_index(index: ChipIndex, model: ClipModel, query: str, top_k: int,
                 log: Callable[[str], None] = lambda m: None) -> SearchResult:
    """The ``top_k`` chips of ``index`` that best match ``query``, best first."""
    index.check_model(model.model_id, model.weights_sha256)
    query_embedding = model.embed_texts([query])[0]
    log(f"searched {len(index.embeddings)} chip embeddings stored in {index.path} "
        f"(layer {index.layer}); the model embedded only the query, no image chip.")
    return text_search(index.embeddings, query_embedding, top_k)


def classify_index(index: ChipIndex, model: ClipModel, labels: Sequence[str],
                   temperature: float | None = None,
                   log: Callable[[str], None] = lambda m: None) -> np.ndarray:
    """(N, L) zero-shot probabilities of the chips over ``labels``; ``temperature`` defaults
    to the model's trained logit scale."""
    labels = [label.strip() for label in labels if label.strip()] if labels else []
    if not labels:
        raise UserError("no labels given: type one description per class, e.g. "
                        "'farmland|forest|water|residential area'.")
    index.check_model(model.model_id, model.weights_sha256)
    scale = model.logit_scale if temperature is None else float(temperature)
    log(f"classified {len(index.embeddings)} chip embeddings stored in {index.path} into "
        f"{len(labels)} labels (temperature {scale:.4g}); the model embedded only the labels.")
    return zero_shot_probabilities(index.embeddings, model.embed_texts(labels, "label"), scale)
