"""Opening rasters with user-facing errors, and telling valid pixels from nodata."""

from __future__ import annotations

import numpy as np
from osgeo import gdal

from ..errors import UserError

gdal.UseExceptions()


def open_raster(path, what: str = "raster") -> gdal.Dataset:
    try:
        ds = gdal.Open(str(path), gdal.GA_ReadOnly)
    except RuntimeError as exc:
        raise UserError(f"cannot open the {what} {path} ({exc}): check the path and "
                        f"format") from exc
    if ds is None or ds.RasterCount == 0:
        raise UserError(f"the {what} {path} has no raster bands: pick a raster layer")
    return ds


def band_names(ds: gdal.Dataset) -> tuple:
    names = []
    for i in range(1, ds.RasterCount + 1):
        desc = ds.GetRasterBand(i).GetDescription().strip()
        names.append(desc or f"band_{i}")
    return tuple(names)


def nodata_values(ds: gdal.Dataset) -> list:
    return [ds.GetRasterBand(i).GetNoDataValue() for i in range(1, ds.RasterCount + 1)]


def read_window(ds: gdal.Dataset, xoff: int, yoff: int, xsize: int, ysize: int) -> np.ndarray:
    """All bands of a window as (bands, rows, cols) float64 (3-D even for one band)."""
    arr = ds.ReadAsArray(xoff, yoff, xsize, ysize)
    arr = np.asarray(arr, dtype=np.float64)
    return arr[None] if arr.ndim == 2 else arr


def invalid_pixels(block: np.ndarray, nodata: list) -> np.ndarray:
    """(rows, cols) True where any band is NaN/inf or equals its nodata value."""
    bad = ~np.all(np.isfinite(block), axis=0)
    for b, nd in enumerate(nodata):
        if nd is not None and np.isfinite(nd):
            bad |= block[b] == nd
    return bad


def check_same_grid(ds: gdal.Dataset, other: gdal.Dataset, what: str, bands: int | None = None):
    if (other.RasterXSize, other.RasterYSize) != (ds.RasterXSize, ds.RasterYSize):
        raise UserError(f"the {what} is {other.RasterXSize} x {other.RasterYSize} pixels but the "
                        f"input raster is {ds.RasterXSize} x {ds.RasterYSize}: resample it onto "
                        f"the input raster's grid")
    if bands is not None and other.RasterCount != bands:
        raise UserError(f"the {what} has {other.RasterCount} bands but the input raster has "
                        f"{bands}: give one sigma band per input band")
