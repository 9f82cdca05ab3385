"""The FTW input stack: two Sentinel-2 dates as one 8-band raster on window A's grid.

FTW models read B04, B03, B02, B08 of window A then the same of window B. Users have either a
ready 8-band stack or one file per date (often with more bands, in any order, sometimes on
different grids). ``ftw_stack`` turns any of these into a GDAL VRT the tiling engine reads like
any raster, without copying pixels:

* bands are picked by their descriptions (``ftw.match_bands``: "B04", "B4", "red", ...), else by
  explicit band numbers, else a 4-band file is taken as B04, B03, B02, B08 in that order;
* window B on another grid (CRS, origin, pixel size or size) is warped onto A's grid with
  **bilinear** resampling (reflectance is continuous; nearest would shift field edges by up to
  half a pixel) into a VRT, with a warning; pixels of A that B does not cover become nodata
  (0, L2A's nodata) and stay nodata in the outputs. Rasters that do not overlap are an error;
* 0-1 reflectance (instead of L2A DN, reflectance x 10000) is detected and warned about: FTW
  divides by 3000 and would see an almost black image.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence
from xml.sax.saxutils import escape

import numpy as np

from ..errors import UserError
from ..runtime.raster import open_raster
from .ftw import FTW_BANDS, looks_like_reflectance_0_1, match_bands

_GDAL_TYPES = {"Byte", "UInt16", "Int16", "UInt32", "Int32", "Float32", "Float64"}


@dataclass
class DateInput:
    """One acquisition window: a raster and its 1-based bands in B04, B03, B02, B08 order."""

    path: str
    bands: list[int]
    how: str  # how the bands were chosen, for the log


@dataclass
class StackReport:
    path: str  # the VRT to run the model on
    dates: list[DateInput] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def choose_bands(path: str, bands: Sequence[int] | None, parameter: str,
                 wanted: Sequence[str] = FTW_BANDS) -> DateInput:
    """The bands of one date: explicit numbers, else descriptions, else a 4-band file as is."""
    ds = open_raster(path)
    count = ds.RasterCount
    if bands:
        bad = [b for b in bands if not 1 <= b <= count]
        if bad:
            raise UserError(f"{parameter}: band(s) {bad} do not exist in {path} ({count} bands).")
        if len(bands) != len(wanted):
            raise UserError(f"{parameter}: BANDS selects {len(bands)} bands but each date needs "
                            f"{len(wanted)} ({', '.join(wanted)}), in that order.")
        return DateInput(str(path), list(bands), "BANDS parameter")
    descriptions = [ds.GetRasterBand(i + 1).GetDescription() for i in range(count)]
    if any(d.strip() for d in descriptions):
        try:
            found = match_bands(descriptions, wanted)
            return DateInput(str(path), [i + 1 for i in found],
                             f"band descriptions {[descriptions[i] for i in found]}")
        except UserError as exc:
            if count != len(wanted):
                raise UserError(f"{parameter} ({path}): {exc}, or set BANDS.") from None
    if count == len(wanted):
        return DateInput(str(path), list(range(1, count + 1)),
                         f"bands 1-{count} taken as {', '.join(wanted)} (no band descriptions)")
    raise UserError(f"{parameter} ({path}) has {count} bands without descriptions naming "
                    f"{', '.join(wanted)}; choose them with BANDS (band numbers in the order "
                    f"{', '.join(wanted)}).")


@contextlib.contextmanager
def ftw_stack(input_a: str | None = None, input_b: str | None = None, stack: str | None = None,
              bands: Sequence[int] | None = None, dates: int = 2,
              log: Callable[[str], None] = print) -> Iterator[StackReport]:
    """Yield a StackReport whose ``path`` is an 8-band (4 per date) VRT on window A's grid.

    ``stack``: one raster already in FTW order (``bands``: 4 x dates band numbers, else its
    first 4 x dates bands). Otherwise ``input_a`` / ``input_b`` (``bands``: 4 numbers used for
    both files, or 4 x dates: A's then B's). The VRT lives in a temporary folder removed on exit.
    """
    per_date = len(FTW_BANDS)
    folder = Path(tempfile.mkdtemp(prefix="rsai_ftw_"))
    try:
        report = StackReport(path=str(folder / "ftw_stack.vrt"))
        if stack and (input_a or input_b):
            raise UserError("give either INPUT (an 8-band stack) or INPUT_A/INPUT_B (one raster "
                            "per date), not both.")
        if stack:
            report.dates = _stack_dates(stack, bands, dates, per_date)
        else:
            if not input_a:
                raise UserError("no input: give INPUT (an 8-band FTW stack) or INPUT_A and "
                                "INPUT_B (one Sentinel-2 L2A raster per window).")
            if dates == 2 and not input_b:
                raise UserError("this model needs two dates (window A: planting, window B: "
                                "harvest) but INPUT_B is empty. Give the second date as INPUT_B, "
                                "or an 8-band stack as INPUT.")
            if dates == 1 and input_b:
                report.warnings.append("this model reads one date; INPUT_B is ignored.")
                input_b = None
            bands_a, bands_b = _split_bands(bands, per_date)
            report.dates.append(choose_bands(input_a, bands_a, "INPUT_A"))
            if input_b:
                date_b = choose_bands(input_b, bands_b, "INPUT_B")
                date_b.path = _align(input_a, input_b, folder, report.warnings)
                report.dates.append(date_b)
        for name, date in zip("AB", report.dates):
            log(f"window {name}: {date.path}, bands {date.bands} ({date.how})")
            if _looks_like_0_1(date):
                report.warnings.append(
                    f"window {name} ({date.path}) looks like reflectance 0-1; FTW expects "
                    "Sentinel-2 L2A digital numbers (reflectance x 10000). Multiply the raster "
                    "by 10000 (Raster calculator), or the fields will be missed.")
        _write_vrt(report.path, report.dates)
        yield report
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _split_bands(bands, per_date):
    if not bands:
        return None, None
    if len(bands) == per_date:
        return list(bands), list(bands)
    if len(bands) == 2 * per_date:
        return list(bands[:per_date]), list(bands[per_date:])
    raise UserError(f"BANDS needs {per_date} band numbers (B04, B03, B02, B08, the same for both "
                    f"dates) or {2 * per_date} (A's then B's), not {len(bands)}.")


def _stack_dates(stack, bands, dates, per_date) -> list[DateInput]:
    ds = open_raster(stack)
    need = per_date * dates
    if bands:
        if len(bands) != need:
            raise UserError(f"BANDS selects {len(bands)} bands but this model needs {need}: "
                            f"{', '.join(FTW_BANDS)} of {'each of the two windows' if dates == 2 else 'one date'}.")
        bad = [b for b in bands if not 1 <= b <= ds.RasterCount]
        if bad:
            raise UserError(f"band(s) {bad} do not exist in {stack} ({ds.RasterCount} bands).")
        chosen, how = list(bands), "BANDS parameter"
    else:
        if ds.RasterCount != need:
            raise UserError(
                f"INPUT ({stack}) has {ds.RasterCount} bands but this model needs {need} "
                f"({', '.join(FTW_BANDS)} of window A then of window B). Choose them with BANDS, "
                "or give one raster per date as INPUT_A and INPUT_B.")
        chosen, how = list(range(1, need + 1)), f"bands 1-{need} in FTW order"
    return [DateInput(str(stack), chosen[i * per_date:(i + 1) * per_date], how)
            for i in range(dates)]


def _grid(ds):
    return (ds.RasterXSize, ds.RasterYSize, tuple(ds.GetGeoTransform()))


def _bounds(ds):
    x0, dx, rx, y0, ry, dy = ds.GetGeoTransform()
    xs = [x0, x0 + dx * ds.RasterXSize + rx * ds.RasterYSize]
    ys = [y0, y0 + ry * ds.RasterXSize + dy * ds.RasterYSize]
    return min(xs), min(ys), max(xs), max(ys)


def _same_crs(a, b) -> bool:
    sa, sb = a.GetSpatialRef(), b.GetSpatialRef()
    if sa is None or sb is None:
        return sa is None and sb is None
    return bool(sa.IsSame(sb))


def _align(path_a: str, path_b: str, folder: Path, warnings: list[str]) -> str:
    """B itself when it is on A's grid; otherwise a VRT of B warped onto A's grid."""
    from osgeo import gdal, osr

    a, b = open_raster(path_a), open_raster(path_b)
    if _same_crs(a, b) and _grid(a)[:2] == _grid(b)[:2] and np.allclose(
            _grid(a)[2], _grid(b)[2], rtol=0, atol=1e-6 * max(1.0, abs(_grid(a)[2][1]))):
        return str(path_b)
    if (a.GetSpatialRef() is None) != (b.GetSpatialRef() is None):
        raise UserError(f"only one of INPUT_A ({path_a}) and INPUT_B ({path_b}) has a CRS; assign "
                        "the missing one (Raster > Projections > Assign Projection).")
    ax0, ay0, ax1, ay1 = _bounds(a)
    bx0, by0, bx1, by1 = _bounds(b)
    if a.GetSpatialRef() is not None and not _same_crs(a, b):
        sa, sb = a.GetSpatialRef(), b.GetSpatialRef()
        for s in (sa, sb):
            s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        bx0, by0, bx1, by1 = osr.CoordinateTransformation(sb, sa).TransformBounds(
            bx0, by0, bx1, by1, 21)
    overlap_w, overlap_h = min(ax1, bx1) - max(ax0, bx0), min(ay1, by1) - max(ay0, by0)
    if overlap_w <= 0 or overlap_h <= 0:
        raise UserError(f"INPUT_A ({path_a}) and INPUT_B ({path_b}) do not overlap: window B "
                        "must cover the same area as window A. Check that both are the same tile "
                        "or area (and their CRS).")
    covered = overlap_w * overlap_h / ((ax1 - ax0) * (ay1 - ay0))
    nodata_b = b.GetRasterBand(1).GetNoDataValue()
    nodata = 0 if nodata_b is None else nodata_b
    out = folder / "window_b_on_a.vrt"
    gdal.Warp(str(out), b, format="VRT", outputBounds=(ax0, ay0, ax1, ay1),
              width=a.RasterXSize, height=a.RasterYSize,
              dstSRS=a.GetProjection() or None, resampleAlg="bilinear",
              srcNodata=nodata_b, dstNodata=nodata, multithread=False)
    warnings.append(f"INPUT_B ({path_b}) is not on INPUT_A's grid; it was resampled (bilinear) "
                    f"onto INPUT_A's grid ({covered:.0%} of window A covered; uncovered pixels "
                    "are nodata).")
    return str(out)


def _looks_like_0_1(date: DateInput) -> bool:
    ds = open_raster(date.path)
    step = max(1, max(ds.RasterXSize, ds.RasterYSize) // 256)
    width, height = max(1, ds.RasterXSize // step), max(1, ds.RasterYSize // step)
    sample = ds.ReadAsArray(band_list=date.bands, buf_xsize=width, buf_ysize=height)
    return looks_like_reflectance_0_1(sample)


def _write_vrt(path: str, dates: list[DateInput]) -> None:
    """A VRT with each date's 4 bands in FTW order, on the first date's grid, as Float32."""
    first = open_raster(dates[0].path)
    width, height = first.RasterXSize, first.RasterYSize
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if first.GetProjection():
        lines.append(f"  <SRS>{escape(first.GetProjection())}</SRS>")
    lines.append("  <GeoTransform>" + ", ".join(repr(float(v)) for v in first.GetGeoTransform())
                 + "</GeoTransform>")
    index = 0
    for name, date in zip("AB", dates):
        ds = open_raster(date.path)
        for band_name, number in zip(FTW_BANDS, date.bands):
            index += 1
            band = ds.GetRasterBand(number)
            nodata = band.GetNoDataValue()
            lines.append(f'  <VRTRasterBand dataType="Float32" band="{index}">')
            lines.append(f"    <Description>{band_name}_{name}</Description>")
            if nodata is not None:
                lines.append(f"    <NoDataValue>{nodata!r}</NoDataValue>")
            lines.append("    <SimpleSource>")
            lines.append(f'      <SourceFilename relativeToVRT="0">'
                         f"{escape(str(Path(date.path).resolve()))}</SourceFilename>")
            lines.append(f"      <SourceBand>{number}</SourceBand>")
            lines.append(f'      <SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>')
            lines.append(f'      <DstRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>')
            lines.append("    </SimpleSource>")
            lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
