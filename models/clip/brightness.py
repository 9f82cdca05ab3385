"""How bright a raster's values are for a CLIP: the value shown as white.

CLIP models for remote sensing were trained on 8-bit RGB pictures (aerial photos, Google Earth
and satellite true-colour images) whose values 0..255 are already display brightness. An 8-bit
raster is therefore read as it is (the card's scale, 255). Other rasters (Sentinel-2 digital
numbers 0..10000+, reflectance 0..1, 16-bit aerial surveys) have no fixed white; a fixed rule
such as "reflectance 0.3 is white" renders clear vegetated scenes almost black. So, like QGIS's
own default display, the raster is stretched by its statistics: the 99th percentile of each of
the three bands (over an overview of the whole raster, nodata left out), the largest of the
three, becomes white, black stays 0 (one gain for the three bands keeps colours), and brighter
values (clouds, roofs) are clipped as an overexposed photo would be. The value is logged and
stored in the index; STRETCH_MAX fixes it, e.g. to compare several scenes on one scale
(3000 for Sentinel-2 L1C/L2A digital numbers, 0.3 for reflectance).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from osgeo import gdal

from ..callbacks import Callbacks
from ..errors import UserError
from ..runtime import raster

PERCENTILE = 99.0
_SAMPLE_PIXELS = 1 << 20


def white_value(path: str, bands: Sequence[int], card_scale: float, stretch_max: float | None,
                callbacks: Callbacks = Callbacks()) -> float:
    """The raster value the model should see as white (the input's scale)."""
    if stretch_max is not None:
        if not np.isfinite(stretch_max) or stretch_max <= 0:
            raise UserError(f"STRETCH_MAX must be a positive number, not {stretch_max}.")
        callbacks.log(f"brightness: {stretch_max:g} is white (STRETCH_MAX)")
        return float(stretch_max)
    dataset = raster.open_raster(path)
    chosen = [dataset.GetRasterBand(b) for b in bands]
    if all(band.DataType == gdal.GDT_Byte for band in chosen):
        callbacks.log(f"brightness: 8-bit raster, {card_scale:g} is white (as the model was "
                      "trained)")
        return float(card_scale)
    white = _percentile_white(dataset, bands)
    callbacks.log(f"brightness: not an 8-bit raster, so {white:.6g} (the {PERCENTILE:g}th "
                  f"percentile of bands {', '.join(map(str, bands))}) is white and brighter "
                  "values are clipped; set STRETCH_MAX to fix it (e.g. 3000 for Sentinel-2 "
                  "digital numbers, 0.3 for reflectance)")
    return white


def _percentile_white(dataset: gdal.Dataset, bands: Sequence[int]) -> float:
    width, height = dataset.RasterXSize, dataset.RasterYSize
    factor = max(1.0, float(np.sqrt(width * height / _SAMPLE_PIXELS)))
    out_w, out_h = max(1, int(width / factor)), max(1, int(height / factor))
    values = np.stack([np.asarray(dataset.GetRasterBand(b).ReadAsArray(
        buf_xsize=out_w, buf_ysize=out_h), np.float64) for b in bands])
    nodata = [dataset.GetRasterBand(b).GetNoDataValue() for b in bands]
    valid = raster.valid_mask(values, nodata)
    if not valid.any():
        raise UserError(f"every pixel of bands {list(bands)} of {dataset.GetDescription()} is "
                        "nodata; check the raster's nodata value and BANDS.")
    white = max(float(np.percentile(band[valid], PERCENTILE)) for band in values)
    if not white > 0:
        raise UserError(f"bands {list(bands)} of {dataset.GetDescription()} hold no positive "
                        "values, so there is nothing to show as bright; check BANDS, or set "
                        "STRETCH_MAX.")
    return white
