"""The satellite pixels of one aerial window: read for its footprint, on the aerial grid at a ratio.

Training (``train.py``) pairs each aerial tile with the Sentinel-2 values of the same ground: a
grid that starts at the aerial window's corner, in the aerial CRS, with pixels ``ratio`` times the
aerial pixel. When the satellite raster already lies on that grid (same CRS, pixel size and an
origin on its pixel corners) the values are a plain window read; otherwise GDAL warps only that
footprint (``resampling``, bilinear by default), never the whole scene. Pixels the satellite
does not cover come back as NaN with ``valid`` False.

Note for Engine v2 (issue 9): the engine reads card inputs per tile the same way; once it is on
main, training should take its tile reader instead of this one (tests/helpers_fusion.py checks
both against pairs whose true alignment is known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from osgeo import gdal

from ..errors import UserError
from ..runtime.grids import same_crs

gdal.UseExceptions()

RESAMPLING = ("nearest", "bilinear", "cubic", "average")
_ALIGN_TOLERANCE = 1e-6  # in satellite pixels: origin and pixel size must agree this closely


@dataclass(frozen=True)
class Footprint:
    """Satellite values on the ratio grid of one aerial window."""

    values: np.ndarray  # (bands, rows, cols) float32, NaN where not covered
    valid: np.ndarray  # (rows, cols) bool: covered by the satellite and not nodata
    warped: bool  # False when it was a plain window read


def window_grid(aerial_gt, col0: int, row0: int, width: int, height: int, ratio: int):
    """(geotransform, cols, rows) of the ratio grid over an aerial window; the last satellite
    pixel may reach past the window when the window is not a multiple of the ratio."""
    if aerial_gt[2] or aerial_gt[4]:
        raise UserError("the aerial raster is rotated; warp it to a north-up grid first (gdalwarp)")
    gt = (aerial_gt[0] + col0 * aerial_gt[1], aerial_gt[1] * ratio, 0.0,
          aerial_gt[3] + row0 * aerial_gt[5], 0.0, aerial_gt[5] * ratio)
    return gt, math.ceil(width / ratio), math.ceil(height / ratio)


def read_footprint(satellite: gdal.Dataset, aerial_gt, aerial_wkt: str, col0: int, row0: int,
                   width: int, height: int, ratio: int, bands=None,
                   resampling: str = "bilinear") -> Footprint:
    """The satellite under aerial pixels [col0, col0+width) x [row0, row0+height) at ``ratio``.

    ``bands``: 1-based satellite bands in the order wanted (default: all).
    """
    if resampling not in RESAMPLING:
        raise UserError(f"resampling must be one of {RESAMPLING}, not {resampling!r}")
    bands = list(bands or range(1, satellite.RasterCount + 1))
    gt, cols, rows = window_grid(aerial_gt, col0, row0, width, height, ratio)
    nodata = [satellite.GetRasterBand(b).GetNoDataValue() for b in bands]
    offset = _aligned_offset(satellite, gt, aerial_wkt)
    if offset is not None and _inside(satellite, offset, cols, rows):
        values = satellite.ReadAsArray(offset[0], offset[1], cols, rows, band_list=bands,
                                       buf_type=gdal.GDT_Float32).reshape(len(bands), rows, cols)
        warped = False
    else:
        values = _warp(satellite, gt, cols, rows, aerial_wkt, bands, resampling)
        warped = True
    valid = np.all(np.isfinite(values), axis=0)
    for band, value in zip(values, nodata):
        if value is not None and np.isfinite(value):
            valid &= band != value
    values[:, ~valid] = np.nan
    return Footprint(values, valid, warped)


def _aligned_offset(satellite: gdal.Dataset, gt, wkt: str):
    """(col, row) of ``gt``'s origin in the satellite when both grids coincide, else None."""
    sgt = satellite.GetGeoTransform()
    if sgt[2] or sgt[4] or not same_crs(satellite.GetProjection() or "", wkt or ""):
        return None
    if (abs(sgt[1] - gt[1]) > _ALIGN_TOLERANCE * abs(gt[1])
            or abs(sgt[5] - gt[5]) > _ALIGN_TOLERANCE * abs(gt[5])):
        return None
    col = (gt[0] - sgt[0]) / sgt[1]
    row = (gt[3] - sgt[3]) / sgt[5]
    if abs(col - round(col)) > _ALIGN_TOLERANCE or abs(row - round(row)) > _ALIGN_TOLERANCE:
        return None
    return round(col), round(row)


def _inside(satellite: gdal.Dataset, offset, cols: int, rows: int) -> bool:
    col, row = offset
    return (col >= 0 and row >= 0 and col + cols <= satellite.RasterXSize
            and row + rows <= satellite.RasterYSize)


def _warp(satellite: gdal.Dataset, gt, cols: int, rows: int, wkt: str, bands,
          resampling: str) -> np.ndarray:
    source = satellite
    if bands != list(range(1, satellite.RasterCount + 1)):
        source = gdal.Translate("", satellite, format="VRT", bandList=bands)
    nodata = [source.GetRasterBand(b + 1).GetNoDataValue() for b in range(source.RasterCount)]
    bounds = (gt[0], gt[3] + gt[5] * rows, gt[0] + gt[1] * cols, gt[3])
    options = dict(format="MEM", outputBounds=bounds, width=cols, height=rows,
                   resampleAlg=resampling, outputType=gdal.GDT_Float32, dstNodata=float("nan"),
                   warpOptions=["INIT_DEST=NO_DATA"])
    if wkt:
        options["dstSRS"] = wkt
    if any(v is not None for v in nodata):
        options["srcNodata"] = " ".join("nan" if v is None else repr(float(v)) for v in nodata)
    out = gdal.Warp("", source, **options)
    return out.ReadAsArray().astype(np.float32, copy=False).reshape(len(bands), rows, cols)
