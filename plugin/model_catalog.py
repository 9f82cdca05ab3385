"""What the model manager shows and does, without a GUI: the cards with their cache state,
download / remove weights, and custom models kept as user cards.

The dialog (plugin/model_manager.py) only calls this, so everything here is tested without
clicking. No QGIS import: the caller passes the weights store and the user cards folder (the
provider's settings in QGIS).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..models import registry
from ..models.cards import ModelCard, card_to_dict
from ..models.errors import UserError
from ..models.files import write_files
from ..models.hub import WeightsSource, WeightsStore, format_size, sha256_file


def human_size(n: int | None) -> str:
    return "unknown" if n is None else format_size(n)


@dataclass(frozen=True)
class ModelRow:
    card: ModelCard
    source: str  # where the weights come from, in words
    cached: Path | None  # the verified local file, None when not cached (or not known)
    size: int | None  # bytes: of the cached/local file, else as the card states; None: unknown
    custom: bool  # a user card (can be deleted from the manager)
    cache_unknown: str = ""  # why the cache state cannot be read (a package missing), else ""

    @property
    def id(self) -> str:
        return self.card.id

    @property
    def purpose(self) -> str:
        """What the model is for: the first sentence of the card's description."""
        text = self.card.description.strip()
        if not text:
            return f"{self.card.task} model"
        end = re.search(r"\.(\s|$)", text)
        return text[:end.start() + 1] if end else text


class ModelCatalog:
    def __init__(self, store: WeightsStore, user_cards_dir: str | Path):
        self.store = store
        self.user_dir = Path(user_cards_dir)

    # -- listing ------------------------------------------------------------------------------
    def cards(self) -> dict[str, ModelCard]:
        return registry.list_cards([self.user_dir])

    def card(self, model_id: str) -> ModelCard:
        return registry.find_card(model_id, [self.user_dir])

    def rows(self) -> list[ModelRow]:
        custom_ids = set()
        for path in self.user_dir.glob("*.json") if self.user_dir.is_dir() else ():
            try:
                custom_ids.add(json.loads(path.read_text(encoding="utf-8")).get("id"))
            except (OSError, ValueError):
                pass
        rows = []
        for card in sorted(self.cards().values(), key=lambda c: c.title.lower()):
            try:
                cached, unknown = self.cached(card), ""
            except UserError as exc:  # e.g. huggingface_hub is not installed
                cached, unknown = None, str(exc)
            size = cached.stat().st_size if cached else (card.weights.size if card.weights
                                                          else None)
            rows.append(ModelRow(card, self.describe_source(card), cached, size,
                                 card.id in custom_ids, unknown))
        return rows

    def remote_sizes(self, rows: list[ModelRow]) -> dict[str, int]:
        """Sizes the servers state for the rows whose size is unknown (network: call it off the
        GUI thread). Empty when offline."""
        sizes = {}
        for row in rows:
            if row.size is None and row.card.weights is not None and row.card.local_weights is None:
                size = self.store.remote_size(row.card.weights)
                if size is not None:
                    sizes[row.id] = size
        return sizes

    @staticmethod
    def describe_source(card: ModelCard) -> str:
        if card.local_weights is not None:
            return f"local file {card.local_weights}"
        return card.weights.describe() if card.weights else "no weights source"

    def cached(self, card: ModelCard) -> Path | None:
        if card.local_weights is not None:
            return card.local_weights if card.local_weights.is_file() else None
        return self.store.cached_path(card.weights) if card.weights else None

    def cache_size(self) -> int:
        return self.store.cache_size_bytes()

    # -- weights ------------------------------------------------------------------------------
    def download(self, model_id: str, progress: Callable[[float], None] | None = None,
                 is_cancelled: Callable[[], bool] | None = None) -> Path:
        return registry.weights_path(self.card(model_id), self.store, progress, is_cancelled)

    def remove(self, model_id: str) -> None:
        """Delete the model's cached weights (a local file of a custom model is never deleted)."""
        card = self.card(model_id)
        if card.weights is not None and card.local_weights is None:
            self.store.remove(card.weights)

    # -- custom models ------------------------------------------------------------------------
    def add_onnx_file(self, path: str | Path) -> ModelCard:
        """A local ONNX file, described by a card beside it or its own metadata."""
        path = Path(path).expanduser().resolve()
        if path.suffix.lower() != ".onnx" or not path.is_file():
            raise UserError(f"{path} is not an .onnx file; pick an ONNX model file.")
        card = registry.onnx_card(path)
        return self._save(replace(card, id=_slug(card.id), local_weights=path))

    def add_hub_reference(self, reference: str,
                          progress: Callable[[float], None] | None = None,
                          is_cancelled: Callable[[], bool] | None = None) -> ModelCard:
        """``owner/repo@<commit>:path/model.onnx``: fetched once to read its metadata; the card
        pins the file's sha256 so later downloads are verified."""
        source = WeightsSource.parse_hub_reference(reference)
        if not source.filename.lower().endswith(".onnx"):
            raise UserError(f"{reference}: only .onnx files can be added without a card.")
        path = self.store.fetch(source, progress, is_cancelled)
        pinned = replace(source, sha256=sha256_file(path))
        card = registry.onnx_card(path, pinned)
        model_id = _slug(f"{source.repo_id.split('/')[-1]}-{Path(source.filename).stem}")
        return self._save(replace(card, id=model_id, local_weights=None, weights=pinned,
                                  title=f"{source.repo_id}: {source.filename}"))

    def delete_custom(self, model_id: str) -> None:
        """Forget a custom model (its card); cached weights are removed too."""
        path = self._card_file(model_id)
        if not path.is_file():
            raise UserError(f"{model_id} is not a custom model (built-in cards stay).")
        self.remove(model_id)
        path.unlink()

    def _card_file(self, model_id: str) -> Path:
        return self.user_dir / f"{_slug(model_id)}.json"

    def _save(self, card: ModelCard) -> ModelCard:
        self.user_dir.mkdir(parents=True, exist_ok=True)
        target = self._card_file(card.id)
        write_files({target: json.dumps(card_to_dict(card), indent=1)})
        return registry.find_card(card.id, [self.user_dir])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"
