"""GDAL raster I/O shared by every tool: open checked inputs, create styled outputs safely.

Outputs are tiled, compressed GeoTIFFs written under a temporary name and renamed only when
complete, so a cancelled or failed run never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from osgeo import gdal

from .. import paths
from ..files import partial_path, remove_leftovers
from ..errors import UserError
from .grids import Grid
from .gdal_exceptions import gdal_exceptions

RASTER_EXTENSIONS = (".tif", ".tiff")  # every raster output is a GeoTIFF
CLASS_NODATA = 255
FLOAT_NODATA = -9999.0
GTIFF_OPTIONS = ("TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "COMPRESS=DEFLATE",
                 "PREDICTOR=2", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS")


@dataclass(frozen=True)
class RasterInfo:
    """What the engine needs to know about an input raster, read once."""

    path: str
    width: int
    height: int
    band_count: int
    geotransform: tuple[float, ...]
    projection: str  # WKT; "" when the raster has no CRS
    nodata: tuple[float | None, ...]
    descriptions: tuple[str, ...]

    @property
    def grid(self) -> Grid:
        return Grid(self.width, self.height, self.geotransform, self.projection)

    @property
    def band_names(self) -> tuple[str, ...]:
        """Band descriptions, ``band_<n>`` where a band has none."""
        return tuple(d.strip() or f"band_{i + 1}" for i, d in enumerate(self.descriptions))


@gdal_exceptions()
def open_raster(path: str | os.PathLike, what: str = "raster") -> gdal.Dataset:
    """``what`` names the input in messages ("mask raster", "sigma raster")."""
    try:
        dataset = gdal.Open(str(path), gdal.GA_ReadOnly)
    except RuntimeError as exc:
        raise UserError(f"cannot open {what} {path}: {exc}. Check the path and that it is a "
                        "raster format GDAL reads.")
    if dataset is None or dataset.RasterCount == 0:
        raise UserError(f"the {what} {path} has no raster bands: pick a raster layer.")
    return dataset


def raster_info(dataset: gdal.Dataset) -> RasterInfo:
    bands = [dataset.GetRasterBand(i + 1) for i in range(dataset.RasterCount)]
    return RasterInfo(
        path=dataset.GetDescription(),
        width=dataset.RasterXSize,
        height=dataset.RasterYSize,
        band_count=dataset.RasterCount,
        geotransform=tuple(dataset.GetGeoTransform()),
        projection=dataset.GetProjection() or "",
        nodata=tuple(b.GetNoDataValue() for b in bands),
        descriptions=tuple(b.GetDescription() for b in bands),
    )


def check_same_grid(reference: RasterInfo, other: RasterInfo, what: str,
                    bands: int | None = None) -> None:
    """An auxiliary raster (mask, sigma) must lie on the input's pixel grid (and band count)."""
    if (other.width, other.height) != (reference.width, reference.height):
        raise UserError(f"the {what} is {other.width} x {other.height} pixels but the input "
                        f"raster is {reference.width} x {reference.height}: resample it onto "
                        "the input raster's grid.")
    if bands is not None and other.band_count != bands:
        raise UserError(f"the {what} has {other.band_count} bands but the input raster has "
                        f"{bands}: give one band per input band.")


def read_window(dataset: gdal.Dataset, col: int, row: int, width: int, height: int,
                dtype=np.float64) -> np.ndarray:
    """All bands of a window as (bands, rows, cols) in ``dtype`` (3-D even for one band)."""
    block = np.asarray(dataset.ReadAsArray(col, row, width, height), dtype=dtype)
    return block[None] if block.ndim == 2 else block


def check_output_path(output: str | os.PathLike, inputs: Sequence[str | os.PathLike]) -> None:
    """Refuse to overwrite an input: nothing the user gave us may be lost."""
    check_outputs([output], inputs)


def check_outputs(outputs: Sequence[str | os.PathLike], inputs: Sequence[str | os.PathLike]) -> None:
    """No output may be an input, and no two outputs the same file (models/paths.py)."""
    paths.check_apart({f"output #{i + 1}": o for i, o in enumerate(outputs) if o},
                      {f"#{i + 1}": s for i, s in enumerate(inputs) if s})


def integer_nodata(data_type: int) -> float:
    """The nodata value of an integer output: the type's largest value (0 is often data)."""
    return float(np.iinfo(gdal_array_type(data_type)).max)


def gdal_array_type(data_type: int):
    from osgeo import gdal_array
    return gdal_array.GDALTypeCodeToNumericTypeCode(data_type)


def cast(values: np.ndarray, data_type: int, valid: np.ndarray) -> np.ndarray:
    """Float values rounded and clipped into an integer type (its maximum is nodata)."""
    kind = gdal_array_type(data_type)
    info = np.iinfo(kind)
    rounded = np.rint(values)
    out = np.clip(rounded, info.min, info.max - 1, out=rounded).astype(kind)
    out[..., ~valid] = info.max
    return out


def valid_mask(block: np.ndarray, nodata: Sequence[float | None],
               check_finite: bool = True) -> np.ndarray:
    """True where every band holds a real value (not nodata, not NaN or infinite):
    (bands, rows, cols) in. ``check_finite=False`` skips the NaN test for blocks read from
    integer rasters into a float buffer."""
    mask = np.ones(block.shape[1:], dtype=bool)
    for band, value in zip(block, nodata):
        if check_finite and np.issubdtype(band.dtype, np.floating):
            mask &= np.isfinite(band)
        if value is not None and np.isfinite(value):
            mask &= band != value
    return mask


@dataclass
class OutputRaster:
    """A GeoTIFF being written block by block onto the grid of an input raster."""

    dataset: gdal.Dataset
    final_path: Path
    temp_path: Path

    def write(self, array: np.ndarray, col: int, row: int) -> None:
        """Write (bands, rows, cols) or (rows, cols) at pixel offset (col, row)."""
        if array.ndim == 2:
            array = array[None]
        for index, band_array in enumerate(array):
            self.dataset.GetRasterBand(index + 1).WriteArray(band_array, col, row)

    def flush(self) -> None:
        self.dataset.FlushCache()


def create_like(grid: Grid | RasterInfo, path: str | os.PathLike, band_count: int,
                data_type: int, nodata: float, band_names: Sequence[str] = (),
                classes: Sequence[tuple[int, str, str]] = ()) -> OutputRaster:
    """A tiled, compressed GeoTIFF on ``grid``, under a temporary name.

    ``classes`` (value, name, '#rrggbb') gives a colour table and category names, so QGIS shows
    the class raster paletted with the right legend.
    """
    final_path = Path(path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final_path)  # what a killed earlier run left
    temp_path = partial_path(final_path, ".tif")
    driver = gdal.GetDriverByName("GTiff")
    grid = grid.grid if isinstance(grid, RasterInfo) else grid
    dataset = driver.Create(str(temp_path), grid.width, grid.height, band_count, data_type,
                            options=list(GTIFF_OPTIONS))
    dataset.SetGeoTransform(grid.geotransform)
    if grid.crs:
        dataset.SetProjection(grid.crs)
    for index in range(band_count):
        band = dataset.GetRasterBand(index + 1)
        band.SetNoDataValue(nodata)
        if index < len(band_names):
            band.SetDescription(band_names[index])
    if classes:
        _set_classes(dataset.GetRasterBand(1), classes)
    return OutputRaster(dataset, final_path, temp_path)


def _set_classes(band: gdal.Band, classes: Sequence[tuple[int, str, str]]) -> None:
    table = gdal.ColorTable()
    names = [""] * (max(value for value, _, _ in classes) + 1)
    for value, name, colour in classes:
        table.SetColorEntry(value, hex_to_rgba(colour))
        names[value] = name
    band.SetColorTable(table)
    band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
    band.SetCategoryNames(names)


def hex_to_rgba(colour: str) -> tuple[int, int, int, int]:
    colour = colour.lstrip("#")
    return (int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16), 255)


@contextlib.contextmanager
def committed_outputs(outputs: Sequence[OutputRaster]) -> Iterator[None]:
    """Rename the outputs into place only if the block finishes; otherwise delete them."""
    try:
        yield
    except BaseException:
        for output in outputs:
            output.dataset = None
            for leftover in (output.temp_path,
                             output.temp_path.with_name(output.temp_path.name + ".aux.xml")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        raise
    for output in outputs:
        output.dataset.FlushCache()
        output.dataset = None  # closes the file
        final_aux = output.final_path.with_name(output.final_path.name + ".aux.xml")
        temp_aux = output.temp_path.with_name(output.temp_path.name + ".aux.xml")
        if final_aux.exists():
            final_aux.unlink()
        os.replace(output.temp_path, output.final_path)
        if temp_aux.exists():  # GDAL keeps category names there
            os.replace(temp_aux, final_aux)
