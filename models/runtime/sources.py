"""A card's named inputs bound to raster files, read window by window on the model's grids.

Each input is read on its *model grid*: the first input's grid with pixels ``ratio`` times
larger (same origin, same CRS). Where the file's own pixels coincide with that grid, a window
is a plain GDAL window read; otherwise (another CRS, rotation, pixel size or a fraction of a
pixel off) each window is warped from the file on its own, so no whole scene is ever warped
or read. Windows may reach past the raster: those pixels come back invalid, filled by the
card's padding, so tiles at the edge look like tiles inside.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from osgeo import gdal

from ..callbacks import Callbacks
from ..cards import InputSpec, ModelCard
from ..errors import UserError
from . import raster
from .grids import Grid, format_bounds, overlap_fraction

_RESAMPLING = {"nearest": gdal.GRIORA_NearestNeighbour, "bilinear": gdal.GRIORA_Bilinear,
               "cubic": gdal.GRIORA_Cubic, "cubicspline": gdal.GRIORA_CubicSpline,
               "lanczos": gdal.GRIORA_Lanczos, "average": gdal.GRIORA_Average}


@dataclass(frozen=True)
class Block:
    """One window of one input: float32 values (bands, rows, cols) and where they are real."""

    values: np.ndarray
    valid: np.ndarray  # bool (rows, cols)


class InputSource:
    """One card input bound to a raster file and the bands chosen for it."""

    def __init__(self, spec: InputSpec, path: str, bands: Sequence[int], primary: Grid | None):
        self.spec, self.path, self.bands = spec, str(path), list(bands)
        self.dataset = raster.open_raster(path, f"{spec.name} raster")
        self.grid = Grid.of(self.dataset)
        if primary is None:  # the first input defines the grid
            self.model_grid, self.offset = self.grid, (0, 0)
        else:
            self.model_grid = primary.scaled(spec.ratio)
            self.offset = self.model_grid.window_offset_in(self.grid)
        bands_info = [self.dataset.GetRasterBand(b) for b in self.bands]
        self.nodata = [band.GetNoDataValue() for band in bands_info]
        self.floating = any(band.DataType in (gdal.GDT_Float32, gdal.GDT_Float64)
                            for band in bands_info)
        # An alpha band or a mask band (0 = no data) covers every band: honour it as nodata.
        self.masked = bool(bands_info[0].GetMaskFlags() & gdal.GMF_PER_DATASET)
        self._warp_source = None

    @property
    def aligned(self) -> bool:
        """True when windows are plain reads (the file's pixels are the model grid's)."""
        return self.offset is not None

    def read(self, col: int, row: int, width: int, height: int,
             out_width: int | None = None, out_height: int | None = None,
             out: np.ndarray | None = None) -> Block:
        """A window of the model grid (its pixels), optionally averaged down to
        ``out_width`` x ``out_height`` (or enlarged by a whole factor with the card's
        ``upsample`` resampling, GDAL resampling in the read; validity from the window's own
        pixels); values transformed (dB) but not normalised. ``out``: a float32 (bands, rows,
        cols) array to read into (a slot of a batch: no extra copy)."""
        out_width, out_height = out_width or width, out_height or height
        if out is None:
            out = np.empty((len(self.bands), out_height, out_width), np.float32)
        if self.aligned:
            block = self._read_window(col, row, width, height, out)
        else:
            block = self._warp_window(col, row, width, height, out)
        if self.spec.transform == "db":
            block = to_db(block)
        return block

    def _read_window(self, col, row, width, height, values: np.ndarray) -> Block:
        out_height, out_width = values.shape[1:]
        fx, fy = out_width / width, out_height / height
        x0, y0 = col + self.offset[0], row + self.offset[1]
        # The part of the window inside the raster, in source and in output pixels.
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + width, self.grid.width), min(y0 + height, self.grid.height)
        valid = np.zeros((out_height, out_width), bool)
        if sx1 <= sx0 or sy1 <= sy0:
            values[:] = 0
            return Block(values, valid)
        ox0, oy0 = round((sx0 - x0) * fx), round((sy0 - y0) * fy)
        ox1, oy1 = round((sx1 - x0) * fx), round((sy1 - y0) * fy)
        if (ox0, oy0, ox1, oy1) != (0, 0, out_width, out_height):
            values[:] = 0
        inside = values[:, oy0:oy1, ox0:ox1]
        kwargs = {}
        enlarged = fx > 1 or fy > 1
        if (ox1 - ox0, oy1 - oy0) != (sx1 - sx0, sy1 - sy0):
            method = (self.spec.upsample or self.spec.resampling) if enlarged else "average"
            kwargs = dict(resample_alg=_RESAMPLING[method])
        self.dataset.ReadAsArray(sx0, sy0, sx1 - sx0, sy1 - sy0, buf_obj=inside,
                                 band_list=self.bands, **kwargs)
        if enlarged:  # a resampled value is real where the pixel under it is
            valid[oy0:oy1, ox0:ox1] = np.repeat(np.repeat(
                self._own_valid(sx0, sy0, sx1 - sx0, sy1 - sy0), round(fy), 0), round(fx), 1)
            return Block(values, valid)
        valid[oy0:oy1, ox0:ox1] = raster.valid_mask(inside, self.nodata, self.floating)
        if self.masked:
            mask = self.dataset.GetRasterBand(self.bands[0]).GetMaskBand().ReadAsArray(
                sx0, sy0, sx1 - sx0, sy1 - sy0, buf_xsize=ox1 - ox0, buf_ysize=oy1 - oy0)
            valid[oy0:oy1, ox0:ox1] &= mask > 0
        return Block(values, valid)

    def _own_valid(self, col: int, row: int, width: int, height: int) -> np.ndarray:
        """Validity of a window of the file's own pixels (read only when it can have holes)."""
        if not (self.floating or self.masked or any(v is not None for v in self.nodata)):
            return np.ones((height, width), bool)
        own = np.empty((len(self.bands), height, width), np.float32)
        return self._read_window(col - self.offset[0], row - self.offset[1], width, height,
                                 own).valid

    def _warp_window(self, col, row, width, height, values: np.ndarray) -> Block:
        out_height, out_width = values.shape[1:]
        gt = self.model_grid.geotransform
        fx, fy = width / out_width, height / out_height
        x, y = self.model_grid.to_map(col, row)
        target = gdal.GetDriverByName("MEM").Create("", out_width, out_height, len(self.bands),
                                                    gdal.GDT_Float32)
        target.SetGeoTransform((x, gt[1] * fx, gt[2] * fy, y, gt[4] * fx, gt[5] * fy))
        if self.model_grid.crs:
            target.SetProjection(self.model_grid.crs)
        for index in range(len(self.bands)):
            band = target.GetRasterBand(index + 1)
            band.SetNoDataValue(float("nan"))
            band.Fill(float("nan"))
        resampling = "average" if (fx > 1 or fy > 1) else (self.spec.upsample or
                                                             self.spec.resampling)
        gdal.Warp(target, self._selected_bands(), resampleAlg=resampling, dstNodata=float("nan"),
                  srcNodata=None if all(v is None for v in self.nodata) else
                  " ".join("None" if v is None else repr(float(v)) for v in self.nodata),
                  errorThreshold=0, multithread=False, warpMemoryLimit=64 * 1024 * 1024)
        target.ReadAsArray(buf_obj=values)
        return Block(values, np.isfinite(values).all(axis=0))

    def _selected_bands(self) -> gdal.Dataset:
        """The chosen bands as an in-memory VRT (a few lines of XML, no pixels copied)."""
        if self._warp_source is None:
            name = f"/vsimem/rsai_{uuid.uuid4().hex}.vrt"
            mask = {"maskBand": f"mask,{self.bands[0]}"} if self.masked else {}
            self._warp_source = gdal.Translate(name, self.dataset, format="VRT",
                                               bandList=self.bands, **mask)
        return self._warp_source

    def close(self) -> None:
        if self._warp_source is not None:
            name = self._warp_source.GetDescription()
            self._warp_source = None
            gdal.Unlink(name)
        self.dataset = None


def to_db(block: Block) -> Block:
    """10 log10 of linear backscatter; zero, negative and NaN values become invalid."""
    values = block.values
    positive = values > 0
    valid = block.valid & positive.all(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log10(values, out=values, where=positive)
    values *= 10.0
    return Block(values, valid)


def fill_invalid(block: Block, pad: str) -> np.ndarray:
    """Values to feed the model where nothing real is, in place: around the real pixels'
    bounding box (past the raster's edge, a nodata border) the card's padding, mirroring or
    repeating the real pixels; holes inside it get each band's mean over the window's real
    pixels (0 when there are none)."""
    values, valid = block.values, block.valid
    if valid.all():
        return values
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if rows.size:
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        if (r0, c0, r1, c1) != (0, 0, *valid.shape):  # the real part sits inside: pad around it
            mode = "reflect" if pad == "reflect" else "edge"
            row_index = _padding_index(valid.shape[0], r0, r1, mode)
            col_index = _padding_index(valid.shape[1], c0, c1, mode)
            for source, index, axis in ((values, row_index, 1), (values, col_index, 2)):
                outside = np.flatnonzero(index != np.arange(index.size))
                if outside.size:
                    taken = np.take(source, index[outside], axis=axis)
                    slicer = [slice(None)] * 3
                    slicer[axis] = outside
                    source[tuple(slicer)] = taken
            valid = valid[row_index][:, col_index]
    if not valid.all():
        for band in values:
            band[~valid] = band[valid].mean() if valid.any() else 0.0
    return values


def _padding_index(size: int, start: int, stop: int, mode: str) -> np.ndarray:
    """For each position 0..size-1, the position inside [start, stop) it copies (itself when
    inside): mirrored without repeating the edge (numpy's "reflect"), or the nearest edge."""
    positions = np.arange(size)
    if mode == "edge" or stop - start == 1:
        return np.clip(positions, start, stop - 1)
    period = 2 * (stop - start - 1)
    offset = np.mod(positions - start, period)
    return start + np.where(offset < stop - start, offset, period - offset)


def open_sources(card: ModelCard, paths: Mapping[str, str | None],
                 bands: Mapping[str, Sequence[int] | None] | None = None,
                 callbacks: Callbacks = Callbacks()) -> dict[str, InputSource]:
    """Bind each card input to its raster: choose its bands, check the rasters overlap.

    ``paths`` maps input names to rasters (missing optional inputs may be None); ``bands``
    maps input names to 1-based band numbers in the card's order (None: by description, else
    the raster's bands in order). Partial overlap is warned about, no overlap is an error.
    """
    bands = bands or {}
    sources: dict[str, InputSource] = {}
    primary = None
    for spec in card.inputs:
        path = paths.get(spec.name)
        if not path:
            if spec.optional:
                continue
            raise UserError(f"{card.title} needs the input '{spec.name}' "
                            f"({', '.join(spec.bands)}) but none was given.")
        dataset = raster.open_raster(path, f"{spec.name} raster")
        chosen = choose_bands(spec, raster.raster_info(dataset), bands.get(spec.name),
                              alpha_bands(dataset))
        source = InputSource(spec, path, chosen, primary)
        if primary is None:
            primary = source.grid
        else:
            _check_overlap(primary, sources[card.primary.name], source, callbacks)
        sources[spec.name] = source
    unknown = set(paths) - {spec.name for spec in card.inputs}
    if unknown:
        raise UserError(f"{card.title} has no input named {', '.join(sorted(unknown))}; its "
                        f"inputs are {', '.join(spec.name for spec in card.inputs)}.")
    return sources


def alpha_bands(dataset: gdal.Dataset) -> list[int]:
    """1-based alpha bands: a mask of the others (used as such), never a data band."""
    return [b for b in range(1, dataset.RasterCount + 1)
            if dataset.GetRasterBand(b).GetColorInterpretation() == gdal.GCI_AlphaBand]


def choose_bands(spec: InputSpec, info: raster.RasterInfo, chosen: Sequence[int] | None,
                 alpha: Sequence[int] = ()) -> list[int]:
    """Band numbers for one input: as given, else found by description, else all (but alpha
    bands) in order."""
    if chosen:
        bad = [b for b in chosen if not 1 <= b <= info.band_count]
        if bad:
            raise UserError(f"band(s) {bad} do not exist: {info.path} has {info.band_count} "
                            "bands.")
        if len(chosen) != len(spec.bands):
            raise UserError(f"the model's input '{spec.name}' expects {len(spec.bands)} bands "
                            f"({', '.join(spec.bands)}) but BANDS selects {len(chosen)}. Pick "
                            "them in the model's order.")
        return list(chosen)
    by_description = _match_descriptions(spec.bands, info.descriptions)
    if by_description:
        return by_description
    data_bands = [b for b in range(1, info.band_count + 1) if b not in alpha]
    if len(data_bands) != len(spec.bands):
        with_alpha = f" and {len(alpha)} alpha band(s)" if alpha else ""
        raise UserError(
            f"the model's input '{spec.name}' expects {len(spec.bands)} bands "
            f"({', '.join(spec.bands)}) but the raster has {len(data_bands)}{with_alpha} "
            f"({info.path}). Pick the bands with the BANDS parameter, in the model's order.")
    return data_bands


def _match_descriptions(wanted: Sequence[str], descriptions: Sequence[str]) -> list[int] | None:
    """1-based bands whose descriptions name every wanted band exactly (case-insensitive);
    None unless all are found, so a partial match never picks the wrong bands silently."""
    lowered = [d.strip().lower() for d in descriptions]
    found = []
    for name in wanted:
        if name.lower() not in lowered:
            return None
        found.append(lowered.index(name.lower()) + 1)
    return found


def _check_overlap(primary: Grid, first: InputSource, source: InputSource,
                   callbacks: Callbacks) -> None:
    if bool(primary.crs) != bool(source.grid.crs):
        raise UserError(f"only one of {first.path} and {source.path} has a CRS; assign the "
                        "missing one (Raster > Projections > Assign Projection).")
    covered = overlap_fraction(primary, source.grid)
    if covered <= 0:
        raise UserError(
            f"the {source.spec.name} raster {source.path} and the {first.spec.name} raster "
            f"{first.path} do not overlap (extents "
            f"{format_bounds(source.grid.bounds_in(primary.crs))} and "
            f"{format_bounds(primary.bounds())} in the {first.spec.name} raster's CRS). Check "
            "that both show the same place and that their CRS are set right.")
    if covered < 0.999:
        callbacks.warn(f"the {source.spec.name} raster {source.path} covers only {covered:.0%} "
                       f"of the {first.spec.name} raster; outside it the outputs are nodata.")
    if source.aligned:
        callbacks.log(f"{source.spec.name}: window reads at ratio {source.spec.ratio} "
                      f"(its pixels line up with the {first.spec.name} grid)")
    else:
        callbacks.log(f"{source.spec.name}: not on the {first.spec.name} grid at ratio "
                      f"{source.spec.ratio}; each tile's footprint is warped "
                      f"({source.spec.resampling}) from the file")
