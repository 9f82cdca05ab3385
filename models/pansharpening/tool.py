"""The steps rsai:pansharpen and rsai:pansharpening_quality share, without QGIS: the PAN/MS pair
opened and checked, and an ADWM network loaded (the band count checked before any download).
The Processing algorithms and the batch core entry (models/tools.py) both call them."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .. import registry
from ..callbacks import Callbacks
from ..hub import WeightsStore
from . import rasters


def open_checked_pair(pan: str, ms: str, sensor: str, callbacks: Callbacks):
    """(pair, sensor, unit_scale): the pair checked, the sensor resolved (from the metadata for
    auto) and the value range warned about."""
    pair = rasters.open_pair(pan, ms)
    sensor = rasters.resolve_sensor(sensor, pair, callbacks)
    warnings, unit_scale = rasters.check_values(pair, sensor)
    for warning in warnings:
        callbacks.warn(warning)
    return pair, sensor, unit_scale


def load_adwm(method: str, pair, weights_file: str | None, device: str, store: WeightsStore,
              card_dirs: Iterable[Path], callbacks: Callbacks):
    """(model, torch device, card, weights path) for an ADWM METHOD; ``weights_file`` overrides the card's
    source. The MS's band count is checked before anything is downloaded."""
    from . import adwm

    card = registry.find_card(method, card_dirs)
    rasters.check_model_bands(pair, len(rasters.ms_input(card).bands))
    if weights_file:
        card = card.with_local_weights(weights_file)
        weights = registry.weights_path(card, store)
        source = f"local file {weights}"
    else:
        resolved = registry.resolve(method, store, card_dirs, callbacks.progress,
                                    callbacks.is_cancelled)
        card, weights = resolved.card, resolved.weights
        source = card.weights.url if card.weights and card.weights.url else str(weights)
    model, dev, described = adwm.load_for_card(card, weights, device)
    callbacks.log(f"Model {card.id} ({card.licence}) from {source} (file {weights}); "
                  f"device {described}")
    return model, dev, card, weights
