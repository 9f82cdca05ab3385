"""Pansharpening of rasters on disk: check the PAN/MS pair, put the MS on a grid aligned with
the PAN, and fuse tile by tile (or strip by strip) into a GeoTIFF on the PAN grid.

The MS may have another extent, resolution or CRS, or be shifted by a fraction of a pixel: GDAL
warps it (cubic, to Float32, nodata outside the MS; not at all when the grids already line up)
onto the *low-resolution grid aligned with the PAN*: the PAN's origin and CRS, pixel = ratio x
the PAN pixel, so MS pixel k covers PAN pixels ratio*k .. ratio*k + ratio-1 and the core
upsamples it at the geometric phase. The ratio is derived from the pixel sizes and must be
close to an integer. Nodata (the rasters' nodata values, NaN) is read as NaN: the core leaves it
out of the fits and the output is nodata there. Global statistics come from ``classical.fit``
on the whole image, or on an averaged overview for big rasters; each tile is then fused with
those parameters and the core's halo, so tiles equal the untiled result. Weighted Brovey is computed
the way GDAL's pansharpening VRT does it: GDAL upsamples the MS (cubic) and the pointwise
Brovey runs in float32 on large strips, several strips at once.
"""
from __future__ import annotations

import math
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from osgeo import gdal, gdal_array

from ..callbacks import never_cancelled, no_progress
from ..errors import Cancelled, UserError
from ..runtime import grids, raster
from . import classical
from .filters import check_ratio, get_sensor
from .tiling import iter_tiles
from ..runtime.gdal_exceptions import gdal_exceptions

FIT_MAX_PAN_PIXELS = 2048 * 2048  # above: fit on an averaged overview at the same ratio
STRIP_VALUES = 4 * 1024 * 1024  # float32 MS values per Brovey strip (16 MB), at least a tile row
TILE = 1024  # PAN pixels per tile core (classical filter methods)
RATIO_TOLERANCE = 0.05  # relative distance of the pixel-size ratio to an integer
OUTPUT_TYPES = ("float32", "input")  # float32 DN, or the MS data type (rounded, clipped)


@dataclass
class Pair:
    """A checked PAN/MS pair: the PAN grid and the MS on the aligned low-resolution grid."""

    pan_path: str
    ms_path: str
    pan: raster.RasterInfo
    ms: raster.RasterInfo
    ratio: int
    lr_width: int  # aligned MS grid: ceil(PAN size / ratio)
    lr_height: int
    lr_source: str  # a GDAL dataset name (the MS itself or a warped VRT) on the aligned grid
    lr_offset: tuple[int, int]  # (col, row) of the aligned grid inside lr_source
    ms_data_type: int
    warnings: list
    lr_nodata: tuple = ()  # nodata value of each band of lr_source (None: none)

    @property
    def band_count(self) -> int:
        return self.ms.band_count

    @property
    def ms_has_nodata(self) -> bool:
        return any(v is not None for v in self.lr_nodata)

    def open_lr(self) -> gdal.Dataset:
        return gdal.Open(self.lr_source)

    def read_ms(self, ds: gdal.Dataset, row0: int, row1: int, col0: int, col1: int,
                upsample: bool = False, out: Optional[np.ndarray] = None) -> np.ndarray:
        """MS (bands, rows, cols) on the aligned grid, rows/cols in LR pixels, float32; with
        ``upsample`` GDAL resamples it (cubic) onto the PAN pixels of that window. ``out``: a
        float32 buffer of the right shape to read into (reused, so no fresh pages per read)."""
        ox, oy = self.lr_offset
        w, h = col1 - col0, row1 - row0
        kwargs = {}
        if upsample:
            kwargs = dict(buf_xsize=w * self.ratio, buf_ysize=h * self.ratio,
                          resample_alg=gdal.GRIORA_Cubic)
        if out is not None:
            kwargs["buf_obj"] = out.reshape((self.band_count,) + out.shape[-2:])
        bands = list(range(1, self.band_count + 1))
        out = ds.ReadAsArray(col0 + ox, row0 + oy, w, h, band_list=bands,
                             buf_type=gdal.GDT_Float32, **kwargs)
        out = out.reshape((self.band_count,) + out.shape[-2:])
        if not upsample:
            return _nodata_to_nan(out, self.lr_nodata)
        if self.ms_has_nodata:  # nodata where the MS pixel under a PAN pixel is nodata
            lr = _nodata_to_nan(ds.ReadAsArray(col0 + ox, row0 + oy, w, h, band_list=bands,
                                               buf_type=gdal.GDT_Float32).reshape(self.band_count, h, w),
                                self.lr_nodata)
            invalid = np.repeat(np.repeat(np.isnan(lr).any(axis=0), self.ratio, 0), self.ratio, 1)
            out[:, invalid] = np.nan
        return out

    def read_pan(self, ds: gdal.Dataset, row0: int, row1: int, col0: int, col1: int,
                 out: Optional[np.ndarray] = None) -> np.ndarray:
        """PAN window, float32; rows/cols past the image (size not a multiple of ratio) repeat
        the edge. ``out``: a float32 buffer to read into when the window is inside the image."""
        r1, c1 = min(row1, self.pan.height), min(col1, self.pan.width)
        if (r1, c1) != (row1, col1):
            out = None
        block = ds.GetRasterBand(1).ReadAsArray(col0, row0, c1 - col0, r1 - row0,
                                                buf_type=gdal.GDT_Float32, buf_obj=out)
        if (r1, c1) != (row1, col1):
            block = np.pad(block, ((0, row1 - r1), (0, col1 - c1)), mode="edge")
        return _nodata_to_nan(block[None], self.pan.nodata)[0]

    def read_all(self, max_pan_pixels: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        """(ms_lr, pan) of the whole aligned grid, averaged down by a whole factor when the PAN
        is bigger than ``max_pan_pixels`` (the ratio between them is kept)."""
        factor = 1
        if max_pan_pixels:
            factor = max(1, math.ceil(math.sqrt(self.lr_width * self.lr_height * self.ratio ** 2
                                                / max_pan_pixels)))
        lr = self.open_lr()
        pan_ds = gdal.Open(self.pan_path)
        if factor == 1:
            return (self.read_ms(lr, 0, self.lr_height, 0, self.lr_width),
                    self.read_pan(pan_ds, 0, self.lr_height * self.ratio, 0, self.lr_width * self.ratio))
        h, w = self.lr_height // factor, self.lr_width // factor
        ox, oy = self.lr_offset
        ms = lr.ReadAsArray(ox, oy, w * factor, h * factor, buf_xsize=w, buf_ysize=h,
                            band_list=list(range(1, self.band_count + 1)),
                            buf_type=gdal.GDT_Float32, resample_alg=gdal.GRIORA_Average)
        size = (h * factor * self.ratio, w * factor * self.ratio)
        pan = pan_ds.GetRasterBand(1).ReadAsArray(
            0, 0, min(size[1], self.pan.width), min(size[0], self.pan.height),
            buf_xsize=w * self.ratio, buf_ysize=h * self.ratio, buf_type=gdal.GDT_Float32,
            resample_alg=gdal.GRIORA_Average)  # GDAL's average leaves nodata out
        return (_nodata_to_nan(ms.reshape((self.band_count, h, w)), self.lr_nodata),
                _nodata_to_nan(pan[None], self.pan.nodata)[0])


def _nodata_to_nan(block: np.ndarray, nodata) -> np.ndarray:
    """(bands, rows, cols) float block with each band's nodata value replaced by NaN, in place."""
    for band, value in zip(block, nodata):
        if value is not None and not math.isnan(value):
            band[band == np.float32(value)] = np.nan
    return block


@gdal_exceptions()
def open_pair(pan_path: str, ms_path: str, sensor: str = "generic") -> Pair:
    """Check PAN and MS and describe how the MS lines up with the PAN grid."""
    pan_ds = raster.open_raster(pan_path)
    ms_ds = raster.open_raster(ms_path)
    pan, ms = raster.raster_info(pan_ds), raster.raster_info(ms_ds)
    if pan.band_count != 1:
        raise UserError(f"the PAN raster {pan_path} has {pan.band_count} bands; pansharpening needs "
                        "a single-band panchromatic raster. Give the PAN band alone (e.g. "
                        "gdal_translate -b 1) and the multispectral bands as MS.")
    if ms.band_count < 2:
        raise UserError(f"the MS raster {ms_path} has {ms.band_count} band; MS needs the "
                        "multispectral bands (at least 2). Did you swap PAN and MS?")
    if pan.geotransform[2] or pan.geotransform[4]:
        raise UserError(f"the PAN raster {pan_path} is rotated; warp it to a north-up grid "
                        "first (gdalwarp).")
    warnings = []
    crs_match = grids.same_crs(pan.projection, ms.projection)
    if not crs_match and not (pan.projection and ms.projection):
        warnings.append("Warning: PAN or MS has no CRS; both are taken to be in the same "
                        "coordinates.")
        crs_match = True
    pan_res = abs(pan.geotransform[1])
    if crs_match:
        ms_gt = ms.geotransform
        ms_bounds = _bounds(ms_gt, ms.width, ms.height)
    else:
        warped = gdal.Warp("", ms_ds, format="VRT", dstSRS=pan.projection)
        ms_gt = warped.GetGeoTransform()
        ms_bounds = _bounds(ms_gt, warped.RasterXSize, warped.RasterYSize)
    pan_bounds = _bounds(pan.geotransform, pan.width, pan.height)
    overlap = (max(pan_bounds[0], ms_bounds[0]), max(pan_bounds[1], ms_bounds[1]),
               min(pan_bounds[2], ms_bounds[2]), min(pan_bounds[3], ms_bounds[3]))
    if overlap[0] >= overlap[2] or overlap[1] >= overlap[3]:
        raise UserError(f"MS ({ms_path}) and PAN ({pan_path}) do not overlap (MS extent "
                        f"{_fmt(ms_bounds)}, PAN extent {_fmt(pan_bounds)} in the PAN's CRS). "
                        "Check that both show the same place and that their CRS are set right.")
    ratio_f = abs(ms_gt[1]) / pan_res
    ratio = round(ratio_f)
    if ratio < 1 or abs(ratio_f - ratio) > RATIO_TOLERANCE * ratio:
        raise UserError(f"the MS pixel ({abs(ms_gt[1]):g}) is {ratio_f:.3f} x the PAN pixel "
                        f"({pan_res:g}), not close to a whole number. Resample the MS to an "
                        "integer multiple of the PAN pixel size (e.g. gdalwarp -tr), usually 4.")
    check_ratio(ratio)
    lr_w, lr_h = -(-pan.width // ratio), -(-pan.height // ratio)
    lr_gt = (pan.geotransform[0], pan.geotransform[1] * ratio, 0.0,
             pan.geotransform[3], 0.0, pan.geotransform[5] * ratio)
    offset = _aligned_offset(ms.geotransform, lr_gt, pan_res) if crs_match else None
    if offset is not None and (offset[0] < 0 or offset[1] < 0 or offset[0] + lr_w > ms.width
                               or offset[1] + lr_h > ms.height):
        offset = None  # aligned, but the MS does not cover the whole PAN: warp (fills nodata)
    if offset is not None:
        source, lr_offset = ms_path, offset
    else:
        bounds = (lr_gt[0], lr_gt[3] + lr_gt[5] * lr_h, lr_gt[0] + lr_gt[1] * lr_w, lr_gt[3])
        source = f"/vsimem/rsai_pansharpen_{os.getpid()}_{id(pan)}.vrt"
        gdal.Warp(source, ms_ds, format="VRT", dstSRS=pan.projection or None,
                  outputBounds=bounds, width=lr_w, height=lr_h, resampleAlg="cubic",
                  outputType=gdal.GDT_Float32, dstNodata=raster.FLOAT_NODATA, multithread=True)
        lr_offset = (0, 0)
    lr_nodata = raster.raster_info(gdal.Open(source)).nodata
    return Pair(pan_path, ms_path, pan, ms, ratio, lr_w, lr_h, source, lr_offset,
                ms_ds.GetRasterBand(1).DataType, warnings, lr_nodata)


def _bounds(gt, width, height):
    xs = (gt[0], gt[0] + gt[1] * width)
    ys = (gt[3], gt[3] + gt[5] * height)
    return min(xs), min(ys), max(xs), max(ys)


def _fmt(bounds) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in bounds) + ")"


def _aligned_offset(ms_gt, lr_gt, pan_res):
    """(col, row) of the aligned LR grid inside the MS when their pixels coincide, else None."""
    tol = 1e-3 * pan_res
    if abs(ms_gt[1] - lr_gt[1]) > tol or abs(ms_gt[5] - lr_gt[5]) > tol or ms_gt[2] or ms_gt[4]:
        return None
    col = (lr_gt[0] - ms_gt[0]) / ms_gt[1]
    row = (lr_gt[3] - ms_gt[3]) / ms_gt[5]
    if abs(col - round(col)) * abs(ms_gt[1]) > tol or abs(row - round(row)) * abs(ms_gt[5]) > tol:
        return None
    return int(round(col)), int(round(row))


# --------------------------------------------------------------------------- value checks
def check_values(pair: Pair, sensor: str) -> tuple[list[str], bool]:
    """Warnings about the value range, and whether the data look like 0..1 reflectance."""
    ms, pan = pair.read_all(256 * 256)
    top = float(max(np.nanmax(ms), np.nanmax(pan)))
    s = get_sensor(sensor)
    warnings = []
    unit_scale = top <= 1.5
    if unit_scale:
        warnings.append(f"Warning: the values reach only {top:.3g}: this looks like reflectance "
                        f"already scaled to 0..1, not {s.name} DN (0..{s.max_value}). The deep "
                        "models take it as already normalised; the quality index Q2n expects DN "
                        "(scale the rasters by the sensor's range for comparable figures).")
    elif top > s.max_value:
        warnings.append(f"Warning: values reach {top:.0f}, beyond the {s.name} range 0.."
                        f"{s.max_value} ({int(math.log2(s.max_value + 1))}-bit DN). Check SENSOR "
                        "(generic for other sensors) or rescale the inputs; the deep models "
                        "expect values in that range.")
    return warnings, unit_scale


# --------------------------------------------------------------------------- output
def _gdal_type(pair: Pair, output_type: str) -> int:
    if output_type not in OUTPUT_TYPES:
        raise UserError(f"OUTPUT_TYPE must be one of {OUTPUT_TYPES}, not {output_type!r}")
    return gdal.GDT_Float32 if output_type == "float32" else pair.ms_data_type


def _output_nodata(data_type: int) -> float:
    return raster.FLOAT_NODATA if data_type in (gdal.GDT_Float32, gdal.GDT_Float64) else 0


def _cast(block: np.ndarray, data_type: int) -> np.ndarray:
    """The output block in the output type, NaN (nodata) as the output's nodata value."""
    block = np.where(np.isnan(block), _output_nodata(data_type), block)
    if data_type == gdal.GDT_Float32:
        return block.astype(np.float32, copy=False)
    dtype = np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(data_type))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(block), info.min, info.max).astype(dtype)
    return block.astype(dtype)


def _create_output(pair: Pair, path: str, data_type: int, band_names: Sequence[str]):
    return raster.create_like(pair.pan, path, pair.band_count, data_type,
                              _output_nodata(data_type), band_names)


def _band_names(pair: Pair) -> list[str]:
    return [d or f"band {i + 1}" for i, d in enumerate(pair.ms.descriptions)]


# --------------------------------------------------------------------------- classical
@gdal_exceptions()
def pansharpen_classical(pair: Pair, method: str, output: str, sensor: str = "generic",
                         output_type: str = "float32", weights: Optional[Sequence[float]] = None,
                         tile: int = TILE, threads: int = 0,
                         progress: Callable[[float], None] = no_progress,
                         is_cancelled: Callable[[], bool] = never_cancelled,
                         log: Callable[[str], None] = print, params: Optional[dict] = None) -> dict:
    """Fuse with a classical method into ``output`` (GeoTIFF on the PAN grid). Returns the
    fitted parameters; ``params`` (from an earlier ``classical.fit``) skips the fit."""
    raster.check_output_path(output, [pair.pan_path, pair.ms_path])
    data_type = _gdal_type(pair, output_type)
    if method == "brovey":
        params = params or classical.fit("brovey", np.zeros((pair.band_count, 1, 1)),
                                         np.zeros((pair.ratio, pair.ratio)), pair.ratio, sensor, weights)
        _brovey_strips(pair, params, output, data_type, threads, progress, is_cancelled)
        return params
    if params is None:
        ms_fit, pan_fit = pair.read_all(FIT_MAX_PAN_PIXELS)
        if pan_fit.shape[0] < pair.lr_height * pair.ratio:
            log(f"Global statistics from an overview of {pan_fit.shape[1]} x {pan_fit.shape[0]} "
                "PAN pixels (the raster is large)")
        params = classical.fit(method, ms_fit, pan_fit, pair.ratio, sensor, weights)
        del ms_fit, pan_fit
    halo = classical.halo_px(method, pair.ratio, params["phase"])
    shape = (pair.lr_height * pair.ratio, pair.lr_width * pair.ratio)
    out = _create_output(pair, output, data_type, _band_names(pair))
    lr, pan_ds = pair.open_lr(), gdal.Open(pair.pan_path)
    r = pair.ratio
    with raster.committed_outputs([out]):
        for t in iter_tiles(shape, tile, halo, r, progress, is_cancelled):
            ms_t = pair.read_ms(lr, t.lr_read[0].start, t.lr_read[0].stop,
                                t.lr_read[1].start, t.lr_read[1].stop)
            pan_t = pair.read_pan(pan_ds, t.read[0].start, t.read[0].stop,
                                  t.read[1].start, t.read[1].stop)
            fused = classical.pansharpen_tile(params, ms_t, pan_t, r)[:, t.crop[0], t.crop[1]]
            rows = min(t.write[0].stop, pair.pan.height) - t.write[0].start
            cols = min(t.write[1].stop, pair.pan.width) - t.write[1].start
            out.write(_cast(fused[:, :rows, :cols], data_type), t.write[1].start, t.write[0].start)
    return params


def brovey(weights: Sequence[float], ms_up: np.ndarray, pan: np.ndarray) -> np.ndarray:
    """GDAL's weighted Brovey in float32: pseudo-PAN = sum_b w_b MS_b, out_b = MS_b * PAN /
    pseudo-PAN (0 where pseudo-PAN is 0). ``ms_up`` is already on the PAN grid."""
    return _brovey_inplace(np.asarray(weights, dtype=np.float32),
                           np.array(ms_up, dtype=np.float32), np.array(pan, dtype=np.float32))


def _brovey_inplace(w: np.ndarray, ms_up: np.ndarray, pan: np.ndarray) -> np.ndarray:
    """``brovey`` overwriting its float32 inputs (returns ``ms_up``): no raster-sized
    temporaries but one pseudo-PAN and one scratch band, the same float32 operations in the same
    order, so the result is bit-identical."""
    pseudo = np.multiply(ms_up[0], w[0])
    scratch = np.empty_like(pseudo)
    for b in range(1, ms_up.shape[0]):
        pseudo += np.multiply(ms_up[b], w[b], out=scratch)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.divide(pan, pseudo, out=pan)
    np.copyto(factor, 0, where=pseudo == 0)
    ms_up *= factor
    return ms_up


def _strip_rows(pair: Pair, block_rows: int) -> int:
    """PAN rows per strip: about STRIP_VALUES MS values (memory follows the strip, not the
    raster), a multiple of the output's tile height (a flushed strip holds only whole tiles,
    compressed once) and of the ratio (strips start on an MS row)."""
    step = math.lcm(block_rows, pair.ratio)
    rows = STRIP_VALUES // (pair.band_count * pair.pan.width) // step * step
    return max(step, rows)


def _brovey_strips(pair, params, output, data_type, threads, progress, is_cancelled):
    """Workers read (GDAL upsamples the MS, cubic, in the read) and fuse strips while this
    thread writes finished ones in order and flushes each: GDAL compresses them on its own
    threads (NUM_THREADS) as soon as they are complete, so fusing overlaps compression, and
    only a few strips are ever held (also in GDAL's block cache)."""
    r = pair.ratio
    width, height = pair.pan.width, pair.pan.height
    weights = np.asarray(params["weights"], dtype=np.float32)
    threads = threads or os.cpu_count() or 1
    out = _create_output(pair, output, data_type, _band_names(pair))
    nodata = _output_nodata(data_type) if pair.ms_has_nodata or pair.pan.nodata[0] is not None else None
    rows = _strip_rows(pair, out.dataset.GetRasterBand(1).GetBlockSize()[1])
    starts = list(range(0, height, rows))

    ahead = threads + 1  # strips submitted beyond the one being written
    buffers = queue.SimpleQueue()  # (ms, pan) float32 buffers, one per strip in flight
    for _ in range(ahead + 1):
        buffers.put((np.empty((pair.band_count, rows, pair.lr_width * r), np.float32),
                     np.empty((rows, width), np.float32)))

    def job(y0):
        if is_cancelled():
            raise Cancelled("pansharpening cancelled")
        y1 = min(y0 + rows, height)
        lr0, lr1 = y0 // r, -(-y1 // r)
        ms_buf, pan_buf = buf = buffers.get()
        lr = pair.open_lr()  # datasets are per job: GDAL datasets are not thread-safe
        ms_up = pair.read_ms(lr, lr0, lr1, 0, pair.lr_width, upsample=True,
                             out=ms_buf[:, :(lr1 - lr0) * r])
        pan = pair.read_pan(gdal.Open(pair.pan_path), y0, y1, 0, width, out=pan_buf[:y1 - y0])
        fused = _brovey_inplace(weights, ms_up[:, :y1 - y0, :width], pan)
        if nodata is not None:  # NaN where MS or PAN is nodata, as the output's nodata value
            np.copyto(fused, nodata, where=np.isnan(fused))
        return buf, fused

    with raster.committed_outputs([out]), ThreadPoolExecutor(threads) as pool:
        try:
            pending = [pool.submit(job, y0) for y0 in starts[:ahead]]
            for i, y0 in enumerate(starts):
                buf, block = pending.pop(0).result()
                if i + ahead < len(starts):  # keep the workers busy while this one is written
                    pending.append(pool.submit(job, starts[i + ahead]))
                out.write(block, 0, y0)  # GDAL rounds and clips to an integer type here
                buffers.put(buf)
                out.flush()
                progress((i + 1) / len(starts))
                if is_cancelled():
                    raise Cancelled("pansharpening cancelled")
        except BaseException:
            for f in pending:
                f.cancel()
            raise


# --------------------------------------------------------------------------- deep (ADWM)
def check_model_bands(pair: Pair, model_bands: int) -> None:
    if pair.band_count != model_bands:
        raise UserError(f"the MS has {pair.band_count} bands but this model was trained on "
                        f"{model_bands} (WorldView-3: coastal, blue, green, yellow, red, red "
                        f"edge, NIR1, NIR2). Give an {model_bands}-band MS in that order, or "
                        "choose a classical METHOD, which takes any band count.")


def check_model_ratio(pair: Pair, model) -> None:
    ratio = getattr(model, "ratio", 4)
    if pair.ratio != ratio:
        raise UserError(f"the MS pixel is {pair.ratio} x the PAN pixel but this model was trained "
                        f"at ratio {ratio}; choose a classical METHOD for this pair.")


@gdal_exceptions()
def pansharpen_deep(pair: Pair, model, model_bands: int, output: str, scale: float,
                    output_type: str = "float32", device=None, tile: int = 512,
                    progress: Callable[[float], None] = no_progress,
                    is_cancelled: Callable[[], bool] = never_cancelled,
                    warn: Optional[Callable[[str], None]] = None) -> None:
    """Fuse with a loaded ADWM network (whole-image statistics, tiled inference when the PAN is
    bigger than ``tile``). ``scale`` maps DN to the network's 0..1 range; ``warn`` hears when
    the network's output had to be clamped a lot."""
    from .adwm import pansharpen_adwm
    raster.check_output_path(output, [pair.pan_path, pair.ms_path])
    check_model_bands(pair, model_bands)
    check_model_ratio(pair, model)
    data_type = _gdal_type(pair, output_type)
    ms, pan = pair.read_all()
    big = max(pan.shape) > tile
    fused = pansharpen_adwm(model, ms, pan, scale=scale, tile=tile if big else None,
                            progress=progress, is_cancelled=is_cancelled, device=device, warn=warn)
    out = _create_output(pair, output, data_type, _band_names(pair))
    with raster.committed_outputs([out]):
        out.write(_cast(fused[:, :pair.pan.height, :pair.pan.width], data_type), 0, 0)
    progress(1.0)


def rgb_bands(sensor: str, band_count: int) -> tuple[int, int, int]:
    """1-based red, green, blue bands for a true-colour composite of the fused MS."""
    if band_count >= 8:
        return 5, 3, 2  # WV2 / WV3: coastal, blue, green, yellow, red, red edge, NIR1, NIR2
    if band_count >= 4:
        return 3, 2, 1  # QB / GF2 / generic 4-band: blue, green, red, NIR
    if band_count == 3:
        return 1, 2, 3
    return 1, min(2, band_count), min(2, band_count)


# METHOD options of the tools, in order: core key, label.
METHODS = (("brovey", "Weighted Brovey"), ("gsa", "GSA"), ("mtf_glp_hpm", "MTF-GLP-HPM"),
           ("bdsd_pc", "BDSD-PC"), ("awlp", "AWLP"), ("adwm-fusionnet", "ADWM-FusionNet"),
           ("adwm-lagconv", "ADWM-LAGConv"), ("adwm-lgpnet", "ADWM-LGPNet"))
SENSOR_OPTIONS = ("WV3", "WV2", "QB", "GF2", "generic")


def is_deep(method: str) -> bool:
    """Deep methods are model card ids (adwm-*); the others are classical.METHODS."""
    return method not in classical.METHODS
