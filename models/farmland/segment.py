"""Field segmentation of two Sentinel-2 dates with an FTW-style model, through the engine.

The inputs (one stack or one raster per date) become one VRT on window A's grid
(``inputs.ftw_stack``); the shared tiling engine runs the model on it, so tiling, blending,
nodata and styled outputs are the same as for every other model.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..cards import ModelCard
from ..callbacks import never_cancelled, no_progress
from ..errors import UserError
from ..runtime import raster
from ..runtime.backends import Predictor
from ..runtime.engine import RunOptions, RunReport, run_on_raster
from .ftw import FTW_BANDS
from .inputs import ftw_stack


def dates_of(card: ModelCard) -> int:
    """How many acquisition windows a card's model reads (4 FTW bands per window)."""
    per_date = len(FTW_BANDS)
    if card.task != "segmentation" or card.band_count % per_date or card.band_count > 2 * per_date:
        raise UserError(f"model {card.id} reads {card.band_count} bands ({', '.join(card.inputs.bands)}); "
                        "farmland segmentation needs an FTW-style model reading B04, B03, B02, B08 "
                        "of one or two dates (e.g. ftw-3class). Use rsai:run_model for other models.")
    return card.band_count // per_date


def segment_fields(card: ModelCard, predictor: Predictor, output_path: str,
                   probabilities_path: str | None = None, *, input_a: str | None = None,
                   input_b: str | None = None, stack: str | None = None,
                   bands: Sequence[int] | None = None, options: RunOptions | None = None,
                   progress: Callable[[float], None] = no_progress,
                   is_cancelled: Callable[[], bool] = never_cancelled,
                   log: Callable[[str], None] = print) -> RunReport:
    dates = dates_of(card)
    for out in (output_path, probabilities_path):
        if out:
            raster.check_output_path(out, [p for p in (input_a, input_b, stack) if p])
    options = options or RunOptions()
    with ftw_stack(input_a, input_b, stack, bands, dates, log) as prepared:
        for warning in prepared.warnings:
            log(f"Warning: {warning}")
        report = run_on_raster(prepared.path, card, predictor, output_path, probabilities_path,
                               RunOptions(None, options.tile_size, options.overlap,
                                          options.batch_size),
                               progress, is_cancelled, log)
    report.warnings[:0] = prepared.warnings
    return report
