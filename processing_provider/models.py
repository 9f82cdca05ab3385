"""Resolve MODEL parameters with the provider's settings (cache folder, offline, user cards)."""

from ..models import registry
from . import settings


def resolve_model(reference: str, callbacks, tasks=None) -> registry.ResolvedModel:
    store = settings.weights_store(log=callbacks.log)
    return registry.resolve(reference, store, [settings.user_cards_dir()],
                            callbacks.progress, callbacks.is_cancelled, tasks)
