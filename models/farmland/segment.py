"""Field segmentation of one or two Sentinel-2 dates with an FTW-style model, through the engine.

The card's inputs are the dates (``date_a``, ``date_b``); ``inputs.date_inputs`` finds each
date's raster and bands, and the shared engine reads them tile by tile (B resampled per tile
when it is on another grid), so tiling, blending, nodata and styled outputs are the same as for
every other model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ..callbacks import Callbacks
from ..cards import ModelCard
from ..errors import UserError
from ..runtime.backends import Predictor
from ..runtime.engine import Destination, RunOptions, RunResult, run
from .ftw import FTW_BANDS
from .inputs import date_inputs
from ..runtime.gdal_exceptions import gdal_exceptions


def check_card(card: ModelCard) -> None:
    """Farmland segmentation runs FTW-style cards: one or two dates of B04, B03, B02, B08."""
    dates = card.inputs
    if card.task != "segmentation" or len(dates) > 2 or any(
            len(spec.bands) != len(FTW_BANDS) or spec.ratio != 1 for spec in dates):
        raise UserError(f"model {card.id} reads {', '.join(spec.name for spec in dates)}; "
                        "farmland segmentation needs an FTW-style model reading B04, B03, B02, "
                        "B08 of one or two dates (e.g. ftw-3class). Use rsai:run_model for "
                        "other models.")


@gdal_exceptions()
def segment_fields(card: ModelCard, predictor: Predictor, output_path: str,
                   probabilities_path: str | None = None, *, input_a: str | None = None,
                   input_b: str | None = None, stack: str | None = None,
                   bands: Sequence[int] | None = None, options: RunOptions | None = None,
                   callbacks: Callbacks = Callbacks()) -> RunResult:
    check_card(card)
    chosen = date_inputs(card, input_a, input_b, stack, bands, callbacks)
    options = replace(options or RunOptions(), bands=chosen.bands)
    destinations = [Destination(output_path)]
    if probabilities_path:
        destinations.append(Destination(probabilities_path, what="probabilities"))
    return run(card, predictor, chosen.paths, destinations, options, callbacks)
