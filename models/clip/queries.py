"""Text search and zero-shot classification of a chip set with a loaded CLIP.

Only the words go through the model: the chips' embeddings come from the index (or were just
embedded), and must have been made with the same model and weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..callbacks import Callbacks
from ..errors import UserError
from .chips import ChipSet
from .model import ClipModel
from .search import SearchResult, best_rows, cosine_similarities, zero_shot_probabilities


@dataclass(frozen=True)
class Ranking:
    scores: np.ndarray  # (N,) cosine similarity of every chip to the query
    best: SearchResult  # the TOP_K chips, best first


def search_chips(chips: ChipSet, model: ClipModel, query: str, top_k: int,
                 callbacks: Callbacks = Callbacks()) -> Ranking:
    """Every chip's cosine similarity to ``query`` and the ``top_k`` best, best first."""
    chips.check_model(model.model_id, model.weights_sha256)
    query_embedding = model.embed_texts([query])[0]
    scores = cosine_similarities(chips.embeddings, query_embedding)
    callbacks.log(f"searched {len(scores)} chip embeddings of {chips.origin}; the model "
                  "embedded only the query, no image chip.")
    return Ranking(scores, best_rows(scores, top_k))


def classify_chips(chips: ChipSet, model: ClipModel, labels: Sequence[str],
                   temperature: float | None = None,
                   callbacks: Callbacks = Callbacks()) -> np.ndarray:
    """(N, L) zero-shot probabilities of the chips over ``labels``: softmax(temperature x
    cosine); ``temperature`` defaults to the model's trained logit scale."""
    labels = check_labels(labels)
    chips.check_model(model.model_id, model.weights_sha256)
    scale = model.logit_scale if temperature is None else float(temperature)
    probabilities = zero_shot_probabilities(chips.embeddings, model.embed_texts(labels, "label"),
                                            scale)
    callbacks.log(f"classified {len(probabilities)} chip embeddings of {chips.origin} into "
                  f"{len(labels)} labels (temperature {scale:.4g}); the model embedded only "
                  "the labels, no image chip.")
    return probabilities


MAX_LABELS = 255  # class values 0..254 (255 is the class raster's nodata)


def parse_labels(text: str) -> list[str]:
    """LABELS as typed: descriptions separated by '|'."""
    return [label.strip() for label in (text or "").split("|")]


def check_labels(labels: Sequence[str]) -> list[str]:
    labels = [label.strip() for label in labels]
    example = "e.g. 'farmland|forest|water|residential area'"
    if not any(labels):
        raise UserError(f"no labels given: type one description per class, separated by '|', "
                        f"{example}.")
    empty = [str(i + 1) for i, label in enumerate(labels) if not label]
    if empty:
        raise UserError(f"label {', '.join(empty)} of {len(labels)} is empty (two '|' in a row, "
                        f"or one at an end); remove it: {example}.")
    if len(labels) < 2:
        raise UserError(f"only one label ({labels[0]!r}): zero-shot classification chooses "
                        f"between at least two descriptions, {example}. To find one thing, "
                        "use rsai:text_search.")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UserError(f"the labels {', '.join(map(repr, repeated))} are given twice; give "
                        "each class once.")
    if len(labels) > MAX_LABELS:
        raise UserError(f"{len(labels)} labels, but a class raster holds at most {MAX_LABELS}.")
    return labels
