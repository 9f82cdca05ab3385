"""Turn what the user typed in MODEL into a card and a verified local weights file.

MODEL is one of: a card id (built-in cards live in models/cards/, user cards in folders the
caller passes), a local .onnx file (its metadata, or a card JSON beside it, describes it), a
local card .json file, or a Hub reference ``owner/repo@revision:path/model.onnx``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

from .cards import ModelCard, card_from_onnx_metadata, load_card
from .errors import UserError
from .hub import WeightsSource, WeightsStore
from .runtime.backends import load_predictor, require

BUILTIN_CARDS = Path(__file__).with_name("cards")


@dataclass(frozen=True)
class ResolvedModel:
    card: ModelCard
    weights: Path


def list_cards(extra_dirs: Iterable[Path] = (),
               warn: Callable[[str], None] | None = None) -> dict[str, ModelCard]:
    """Every card by id; user folders come after the built-ins and may override them. A user's
    card that does not load is skipped with a warning naming it (``warn``, default Python's
    warnings), so one broken file never hides the others."""
    cards, broken = _load_cards(extra_dirs)
    for problem in broken:
        (warn or (lambda text: warnings.warn(text, stacklevel=3)))(problem)
    return cards


def _load_cards(extra_dirs: Iterable[Path]) -> tuple[dict[str, ModelCard], list[str]]:
    cards, broken = {}, []
    for path in sorted(BUILTIN_CARDS.glob("*.json")):
        card = load_card(path)  # a broken built-in card is the toolbox's bug: fail loudly
        cards[card.id] = card
    for folder in map(Path, extra_dirs):
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            try:
                card = load_card(path)
            except UserError as exc:
                broken.append(f"skipped the model card {path}: {exc}")
                continue
            cards[card.id] = card
    return cards, broken


def find_card(model_id: str, extra_dirs: Iterable[Path] = ()) -> ModelCard:
    cards, broken = _load_cards(extra_dirs)
    if model_id not in cards:
        skipped = f" Cards that could not be read: {' '.join(broken)}" if broken else ""
        raise UserError(f"no model card with id {model_id!r}. Known ids: "
                        f"{', '.join(sorted(cards)) or 'none'}. MODEL also takes a local .onnx "
                        f"file or a Hub reference owner/repo@revision:file.onnx.{skipped}")
    return cards[model_id]


def looks_like_hub_reference(reference: str) -> bool:
    return "@" in reference and ":" in reference and not Path(reference).exists()


def resolve_card(reference: str, store: WeightsStore, extra_dirs: Iterable[Path] = (),
                 progress: Callable[[float], None] | None = None,
                 is_cancelled: Callable[[], bool] | None = None) -> ModelCard:
    """The card for MODEL; Hub ONNX references are downloaded to read their metadata."""
    reference = reference.strip()
    path = Path(reference).expanduser()
    if looks_like_hub_reference(reference):
        source = WeightsSource.parse_hub_reference(reference)
        if not source.filename.lower().endswith(".onnx"):
            raise UserError(f"{reference}: a Hub reference without a card must point at an "
                            ".onnx file (other formats need a card that names the architecture).")
        return onnx_card(store.fetch(source, progress, is_cancelled), source)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise UserError(f"the ONNX file {path} does not exist.")
        return onnx_card(path)
    if path.suffix.lower() == ".json" and path.is_file():
        card = load_card(path)
        weights = path.with_suffix(".onnx")
        return card.with_local_weights(weights) if card.weights is None and weights.is_file() else card
    return find_card(reference, extra_dirs)


def resolve(reference: str, store: WeightsStore, extra_dirs: Iterable[Path] = (),
            progress: Callable[[float], None] | None = None,
            is_cancelled: Callable[[], bool] | None = None,
            tasks: Iterable[str] | None = None,
            local_weights: str | Path | None = None) -> ResolvedModel:
    """Card and weights; ``tasks`` limits what the calling tool can run (checked before any
    download); ``local_weights``, a file already on disk, replaces the card's source."""
    card = resolve_card(reference, store, extra_dirs, progress, is_cancelled)
    if tasks is not None and card.task not in tasks:
        raise UserError(f"{card.id} is a {card.task} model, which this tool cannot run "
                        f"(it runs {', '.join(tasks)} models). {card.description}")
    if local_weights:
        card = card.with_local_weights(Path(local_weights))
    return ResolvedModel(card, weights_path(card, store, progress, is_cancelled))


def load_model(reference: str, device: str, store: WeightsStore, extra_dirs: Iterable[Path] = (),
               callbacks=None, tasks: Iterable[str] | None = None,
               weights_file: str | Path | None = None):
    """Resolve MODEL, load it on DEVICE and log what the run uses: model, weights, licence and
    the device actually chosen. Returns (card, predictor, weights path)."""
    from .callbacks import Callbacks

    callbacks = callbacks or Callbacks()
    first = callbacks.part(0, 0.1)
    model = resolve(reference, store, extra_dirs, first.progress, first.is_cancelled, tasks,
                    weights_file)
    card = model.card
    predictor = load_predictor(card, model.weights, device)
    origin = card.weights.describe() if card.weights and not card.local_weights else "local file"
    callbacks.log(f"Model {card.id}: {card.title}; weights {origin} at {model.weights}; "
                  f"licence {card.licence}; device {predictor.device}")
    return card, predictor, model.weights


def weights_path(card: ModelCard, store: WeightsStore,
                 progress: Callable[[float], None] | None = None,
                 is_cancelled: Callable[[], bool] | None = None) -> Path:
    """A local file always wins; otherwise the verified cached (or downloaded) file."""
    if card.local_weights is not None:
        if not card.local_weights.is_file():
            raise UserError(f"weights file {card.local_weights} does not exist.")
        return card.local_weights
    if card.weights is None:
        raise UserError(f"model card {card.id} names no weights source; give a local file.")
    return store.fetch(card.weights, progress, is_cancelled)


def onnx_card(path: Path, source: WeightsSource | None = None) -> ModelCard:
    """Describe an ONNX file from a card JSON beside it, else from its own metadata."""
    beside = path.with_suffix(".json")
    if beside.is_file():
        return load_card(beside).with_local_weights(path)
    ort = require("onnxruntime", "read ONNX models")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise UserError(f"{path} is not a readable ONNX model: {exc}")
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    channels = session.get_inputs()[0].shape[1]
    outputs = session.get_outputs()[0].shape[1]
    if not isinstance(channels, int):
        raise UserError(f"{path}: the input's channel count is not fixed; add a card "
                        f"({beside.name}) that lists the bands.")
    card = card_from_onnx_metadata(path, metadata, channels,
                                   outputs if isinstance(outputs, int) else None)
    if source is not None:
        card = _with_source(card, source)
    return card


def _with_source(card: ModelCard, source: WeightsSource) -> ModelCard:
    return replace(card, id=source.describe(), weights=source)
