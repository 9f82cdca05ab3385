"""A tool's MODEL (and WEIGHTS) parameters -> the model card, its verified weights file and a
loaded predictor, with the provider's settings: cache folder, offline switch, the user's cards.

(Named so as not to be confused with the core package ``models``.)"""

from ..models import registry
from ..models.tools import ToolEnvironment
from . import settings


def resolve_model_parameter(reference: str, callbacks, tasks=None,
                            weights_file: str | None = None) -> registry.ResolvedModel:
    """The card MODEL names and its weights file: ``weights_file`` when given (a file on
    disk), else the cached or downloaded one."""
    store = settings.weights_store(log=callbacks.log)
    return registry.resolve(reference, store, [settings.user_cards_dir()],
                            callbacks.progress, callbacks.is_cancelled, tasks, weights_file)


def tool_environment(callbacks) -> ToolEnvironment:
    """The provider's weights cache and the user's cards, for a core tool entry
    (models/tools.py)."""
    return ToolEnvironment(settings.weights_store(log=callbacks.log), (settings.user_cards_dir(),))


def load_card_and_predictor(reference: str, device: str, callbacks, tasks=None,
                            weights_file: str | None = None):
    """Resolve MODEL, load it on DEVICE and log what the run uses (registry.load_model).
    Returns (card, predictor)."""
    card, predictor, _ = registry.load_model(
        reference, device, settings.weights_store(log=callbacks.log), [settings.user_cards_dir()],
        callbacks, tasks, weights_file)
    return card, predictor


def clip_models(device: str, callbacks) -> "Models":
    """The CLIP tools' access to cards (built-in and the user's) and weights (the provider's
    cache, downloaded on first use), loaded on DEVICE; each load is logged."""
    from ..models.clip.model import load_clip_model
    from ..models.clip.tools import Models

    store = settings.weights_store(log=callbacks.log)
    folders = [settings.user_cards_dir()]

    def card(reference: str):
        return registry.resolve_card(reference, store, folders)

    def load(card):
        weights = registry.weights_path(card, store, callbacks.part(0, 0.1).progress,
                                        callbacks.is_cancelled)
        model = load_clip_model(card, weights, device)
        origin = card.weights.describe() if card.weights and not card.local_weights else "local file"
        callbacks.log(f"Model {card.id}: {card.title}; weights {origin} at {weights} (sha256 "
                      f"{model.weights_sha256}); licence {card.licence}; device {model.device}")
        return model

    return Models(card, load)
