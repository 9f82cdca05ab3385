"""AutoICE scores of prediction rasters against chart rasters, read strip by strip.

The core of rsai:sea_ice_scores. Each chart (SOD, SIC, FLOE) pairs a prediction raster with a
chart raster of the same codes. The prediction's grid is the reference: a chart on another
grid is read through a nearest-neighbour warped VRT onto it (codes are categories, never
interpolated), so neither raster is ever held whole. Masked pixels (255, or the raster's
nodata) of either side are left out. The codes' names come from the prediction's category
names (the model's classes, e.g. NERSC's four) or else the AutoICE scheme.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from osgeo import gdal

from ..callbacks import Callbacks
from ..errors import UserError
from ..runtime import raster
from ..runtime.grids import Grid, same_crs
from .metrics import AutoIceScores, ConfusionAccumulator, combine
from .scheme import CHARTS, MASKED, ChartClass
from ..runtime.gdal_exceptions import gdal_exceptions

STRIP_ROWS = 512


@gdal_exceptions()
def score_rasters(pairs: Mapping[str, tuple[str, str]],
                  callbacks: Callbacks = Callbacks()) -> AutoIceScores:
    """``pairs``: chart name (SOD, SIC, FLOE) -> (prediction raster, chart raster)."""
    if not pairs:
        raise UserError("give at least one prediction with its chart (SOD, SIC or FLOE).")
    charts = {}
    for index, (name, (prediction, chart)) in enumerate(pairs.items()):
        part = callbacks.part(index / len(pairs), (index + 1) / len(pairs))
        charts[name] = score_pair(name, prediction, chart, part).scores()
        callbacks.log(f"{name}: {charts[name].metric} {100 * charts[name].score:.2f} on "
                      f"{charts[name].pixels} pixels ({charts[name].masked} masked)")
    return combine(charts)


def score_pair(name: str, prediction: str, chart: str,
               callbacks: Callbacks = Callbacks()) -> ConfusionAccumulator:
    predicted = raster.open_raster(prediction, f"{name} prediction raster")
    charted = raster.open_raster(chart, f"{name} chart raster")
    for dataset, what in ((predicted, "prediction"), (charted, "chart")):
        if dataset.RasterCount != 1:
            raise UserError(f"the {name} {what} {dataset.GetDescription()} has "
                            f"{dataset.RasterCount} bands; give a single-band raster of "
                            f"{name} codes (e.g. OUTPUT{'' if name == 'SOD' else '_' + name} "
                            "of rsai:sea_ice_types).")
    grid = Grid.of(predicted)
    charted = _on_grid(charted, grid, name, callbacks)
    accumulator = ConfusionAccumulator(name, model_classes(predicted, name))
    nodata = [d.GetRasterBand(1).GetNoDataValue() for d in (predicted, charted)]
    for row in range(0, grid.height, STRIP_ROWS):
        callbacks.check_cancelled("scoring")
        rows = min(STRIP_ROWS, grid.height - row)
        blocks = [_codes(d.GetRasterBand(1).ReadAsArray(0, row, grid.width, rows), value)
                  for d, value in zip((predicted, charted), nodata)]
        accumulator.update(blocks[1], blocks[0])
        callbacks.progress((row + rows) / grid.height)
    return accumulator


def model_classes(dataset: gdal.Dataset, name: str) -> tuple[ChartClass, ...]:
    """The prediction's own classes (category names and colours) when it has them."""
    band = dataset.GetRasterBand(1)
    band.GetDescription()  # GDAL 3.6's GeoTIFF reads the .aux.xml lazily
    names = list(band.GetCategoryNames() or [])
    while names and not names[-1]:
        names.pop()
    if not names or len(names) > MASKED:
        return CHARTS[name]
    table = band.GetColorTable()
    scheme = {c.value: c.color for c in CHARTS[name]}
    classes = []
    for value, text in enumerate(names):
        colour = scheme.get(value, "#808080")
        if table is not None and value < table.GetCount():
            colour = "#%02X%02X%02X" % table.GetColorEntry(value)[:3]
        classes.append(ChartClass(value, text or f"class {value}", colour))
    return tuple(classes)


def _codes(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Codes as integers with every masked pixel (nodata, NaN) at 255."""
    values = np.asarray(values)
    masked = np.zeros(values.shape, bool)
    if values.dtype.kind == "f":
        masked |= ~np.isfinite(values)
        if (np.abs(values[~masked] - np.rint(values[~masked])) > 1e-6).any():
            raise UserError("a code raster holds fractional values: give class codes "
                            "(a class raster), not probabilities or concentrations in %.")
    if nodata is not None:
        masked |= values == nodata
    codes = np.where(masked, MASKED, values).astype(np.int64)
    return codes


def _on_grid(dataset: gdal.Dataset, grid: Grid, name: str, callbacks: Callbacks) -> gdal.Dataset:
    own = Grid.of(dataset)
    if (own.width, own.height) == (grid.width, grid.height) and \
            own.window_offset_in(grid) == (0, 0):
        return dataset
    if not own.crs or not grid.crs:
        raise UserError(f"the {name} chart and prediction differ in grid ({own.width} x "
                        f"{own.height} and {grid.width} x {grid.height} px) and one has no "
                        "CRS, so they cannot be laid on each other. Assign the CRS or give "
                        "rasters on the same grid.")
    callbacks.warn(f"the {name} chart is not on the prediction's grid"
                   f"{'' if same_crs(own.crs, grid.crs) else ' (another CRS)'}; it is read "
                   "through a nearest-neighbour warp onto it (codes are not interpolated).")
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    return gdal.Warp("", dataset, format="VRT", dstSRS=grid.crs, width=grid.width,
                     height=grid.height, outputBounds=grid.bounds(), resampleAlg="near",
                     srcNodata=nodata, dstNodata=MASKED if nodata is None else nodata)


def write_table(scores: AutoIceScores, path: str, notes=()) -> Path:
    """HTML when the name ends in .html/.htm, else CSV."""
    from . import report

    if Path(path).suffix.lower() in (".html", ".htm"):
        return report.write_html(scores, path, notes=list(notes))
    return report.write_csv(scores, path)
