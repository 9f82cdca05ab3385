"""What the searches write: the best chips as polygons, and rasters on the chip grid.

The chip grid has one pixel per chip (pixel = STRIDE, centred on the chip), so a heat map or a
class raster lines up with the imagery; cells without a chip (mostly nodata, outside the mask)
are nodata. Rasters go through the runtime's writer (temporary name, renamed when complete).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from osgeo import gdal

from ..callbacks import Callbacks
from ..colours import class_colours
from ..runtime import raster, vectors
from .chips import ChipSet
from .queries import Ranking

MATCH_FIELDS = (vectors.Field("rank", "int"), vectors.Field("similarity", "float"),
                vectors.Field("col", "int"), vectors.Field("row", "int"))
MATCHES_LAYER = "matches"


def write_matches(path: str | os.PathLike, chips: ChipSet, ranking: Ranking, query: str,
                  layer: str = MATCHES_LAYER, callbacks: Callbacks = Callbacks()) -> None:
    """The best chips as footprint polygons with their rank (1 = best) and cosine
    similarity, best first; the query and model in the layer metadata."""
    rows = ranking.best.rows
    wkb = vectors.polygon_wkb(chips.grid.footprints(chips.cols[rows], chips.rows[rows]))
    metadata = {"RSAI_QUERY": query, "RSAI_MODEL_ID": chips.model_id,
                "RSAI_WEIGHTS_SHA256": chips.weights_sha256}
    with vectors.geopackage_layer(path, layer, chips.grid.raster.crs, "polygon", MATCH_FIELDS,
                                  metadata, callbacks) as writer:
        for rank, (row, score) in enumerate(zip(rows, ranking.best.scores), start=1):
            writer.add(wkb[rank - 1].tobytes(), (rank, float(score), int(chips.cols[row]),
                                                 int(chips.rows[row])))


def write_chip_values(path: str | os.PathLike, chips: ChipSet, values: np.ndarray,
                      band_names: Sequence[str]) -> None:
    """Float32 values (N, K) per chip as a K-band raster on the chip grid (nodata -9999)."""
    values = np.asarray(values, np.float32).reshape(len(chips.cols), -1)
    grid = chips.grid.cells
    data = np.full((values.shape[1], grid.height, grid.width), raster.FLOAT_NODATA, np.float32)
    data[:, chips.rows, chips.cols] = values.T
    output = raster.create_like(grid, path, len(data), gdal.GDT_Float32, raster.FLOAT_NODATA,
                                band_names)
    with raster.committed_outputs([output]):
        output.write(data, 0, 0)


def write_chip_classes(path: str | os.PathLike, chips: ChipSet, probabilities: np.ndarray,
                       labels: Sequence[str]) -> list[tuple[int, str, str]]:
    """The most probable label per chip as a Byte raster on the chip grid: class value i is
    label i, named after it, with a colour table (nodata 255). Returns (value, name, colour)."""
    classes = [(i, label, colour) for i, (label, colour) in
               enumerate(zip(labels, class_colours(labels)))]
    grid = chips.grid.cells
    data = np.full((grid.height, grid.width), raster.CLASS_NODATA, np.uint8)
    data[chips.rows, chips.cols] = np.argmax(probabilities, axis=1).astype(np.uint8)
    output = raster.create_like(grid, path, 1, gdal.GDT_Byte, raster.CLASS_NODATA, ["class"],
                                classes)
    with raster.committed_outputs([output]):
        output.write(data, 0, 0)
    return classes
