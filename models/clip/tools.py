"""The work of the three CLIP tools, one call each, free of QGIS.

Every check a user can fail (outputs, bands, chip size, mask, query length, labels, the model
of an index) is made before a model is downloaded or loaded, and nothing is written until the
work is done. Cards and weights are reached through ``Models``, so QGIS (the provider's
settings), a notebook or a test each say where cards and weights live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..callbacks import Callbacks
from ..cards import ModelCard
from ..errors import UserError
from ..runtime import raster, vectors
from . import index as chip_index
from . import outputs
from .chips import ChipOptions, ChipSet, embed_chip_set, plan_chips, run_chips
from .model import ClipModel, check_clip_card
from .queries import check_labels, classify_chips, search_chips
from .text import ClipTokenizer
from ..runtime.gdal_exceptions import gdal_exceptions

DEFAULT_MODEL = "lrsclip-vit-b-16"


@dataclass(frozen=True)
class Models:
    """``card(MODEL text) -> card`` (no download) and ``load(card) -> ClipModel`` (downloads
    the weights when needed and loads them on the device)."""

    card: Callable[[str], ModelCard]
    load: Callable[[ModelCard], ClipModel]


@dataclass
class ChipSource:
    """Where a search's chips come from: a stored index (path, layer or None), or a raster
    embedded on the fly with ``options``."""

    index: tuple[str, str | None] | None = None
    raster: str | None = None
    options: ChipOptions = field(default_factory=ChipOptions)
    batch_size: int = 16

    def inputs(self) -> list[str]:
        paths = [self.index[0] if self.index else None, self.raster,
                 self.options.mask[0] if self.options.mask else None]
        return [p for p in paths if p]


@gdal_exceptions()
def embed_image_chips(models: Models, model: str, raster_path: str, options: ChipOptions,
                      output: str, batch_size: int = 16, layer: str = chip_index.DEFAULT_LAYER,
                      callbacks: Callbacks = Callbacks()) -> int:
    """Embed every chip of the raster into an index layer of ``output``; returns the chip
    count."""
    replaces = vectors.check_destination(output, layer)
    raster.check_outputs([output], [raster_path] + ([options.mask[0]] if options.mask else []))
    card = models.card(model or DEFAULT_MODEL)
    with plan_chips(card, raster_path, options, callbacks) as plan:
        if replaces:
            callbacks.log(f"the layer '{layer}' of {output} from an earlier run will be replaced")
        clip = models.load(card)
        with chip_index.index_layer(output, plan.grid, clip.model_id, clip.weights_sha256,
                                    clip.embedding_dim, plan.settings, layer, callbacks=callbacks) as add:
            count = run_chips(plan, clip, add, batch_size, callbacks.part(0.1, 1.0))
    callbacks.log(f"{count} chip embeddings of {clip.model_id} (weights sha256 "
                  f"{clip.weights_sha256}) written to {output} (layer {layer})")
    return count


@gdal_exceptions()
def text_search(models: Models, model: str, source: ChipSource, query: str, top_k: int,
                output: str, heatmap: str | None = None,
                layer: str = outputs.MATCHES_LAYER, callbacks: Callbacks = Callbacks()) -> int:
    """The ``top_k`` chips that best match ``query`` into ``output`` (polygons with rank and
    similarity) and every chip's similarity into ``heatmap``; returns the match count."""
    vectors.check_destination(output, layer)
    raster.check_outputs([output] + ([heatmap] if heatmap else []), source.inputs())
    chips, clip = _chips_and_model(models, model, source, [query], "query", callbacks)
    ranking = search_chips(chips, clip, query, top_k, callbacks)
    outputs.write_matches(output, chips, ranking, query, layer, callbacks)
    if heatmap:
        outputs.write_chip_values(heatmap, chips, ranking.scores[:, None], ["similarity"])
    best = ranking.best
    if len(best.rows):
        callbacks.log(f"best match: similarity {best.scores[0]:.4f} (chip col {chips.cols[best.rows[0]]}"
                      f", row {chips.rows[best.rows[0]]}); {len(best.rows)} matches written")
    return len(best.rows)


@gdal_exceptions()
def zero_shot_classify(models: Models, model: str, source: ChipSource, labels: Sequence[str],
                       temperature: float | None, output: str,
                       probabilities: str | None = None,
                       callbacks: Callbacks = Callbacks()) -> list[tuple[int, str, str]]:
    """Each chip's most probable label into ``output`` (Byte, labels as class names) and the
    probabilities into ``probabilities``; returns the classes (value, name, colour)."""
    labels = check_labels(labels)
    if temperature is not None and not temperature > 0:
        raise UserError(f"TEMPERATURE must be a positive number, not {temperature}; leave it "
                        "empty for the model's own.")
    raster.check_outputs([output] + ([probabilities] if probabilities else []), source.inputs())
    chips, clip = _chips_and_model(models, model, source, labels, "label", callbacks)
    values = classify_chips(chips, clip, labels, temperature, callbacks)
    classes = outputs.write_chip_classes(output, chips, values, labels)
    if probabilities:
        outputs.write_chip_values(probabilities, chips, values, [f"P({label})" for label in labels])
    return classes


def _chips_and_model(models: Models, model: str, source: ChipSource, texts: Sequence[str],
                     what: str, callbacks: Callbacks) -> tuple[ChipSet, ClipModel]:
    """The chips to search (read from the index, or embedded now) and the loaded model; the
    texts are checked against the model's context before anything is loaded."""
    if bool(source.index) == bool(source.raster):
        raise UserError("give either INDEX (an index made by rsai:embed_image_chips) or INPUT "
                        "(a raster to embed now), not " + ("both." if source.index else
                                                           "neither."))
    if source.index:
        path, layer = source.index
        index_model = chip_index.index_model_id(path, layer)
        try:
            card = models.card(model or index_model)
        except UserError as exc:
            if model:
                raise
            raise UserError(f"the index {path} was made with model {index_model}, which is not "
                            f"a known card here ({exc}). Set MODEL to that model's card (its "
                            ".json file or id).") from None
        if card.id != index_model:
            raise UserError(f"the index {path} was made with model {index_model}, not with "
                            f"{card.id}: embeddings of different models cannot be compared. "
                            "Leave MODEL empty to use the index's model, or embed the imagery "
                            "again with this one (rsai:embed_image_chips).")
        _check_texts(card, texts, what)
        chips = chip_index.read_index(path, layer)
        callbacks.log(f"read {len(chips.cols)} chip embeddings from {chips.origin}")
        return chips, models.load(card)
    card = models.card(model or DEFAULT_MODEL)
    _check_texts(card, texts, what)
    with plan_chips(card, source.raster, source.options, callbacks) as plan:
        clip = models.load(card)
        chips = embed_chip_set(plan, clip, source.batch_size, callbacks.part(0.1, 0.95))
    return chips, clip


def _check_texts(card: ModelCard, texts: Sequence[str], what: str) -> None:
    """Empty or too long texts are refused before the model is downloaded or loaded."""
    check_clip_card(card)
    ClipTokenizer(card.architecture_kwargs["context_length"])(list(texts), what)
