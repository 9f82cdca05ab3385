"""Quality of a pansharpening on rasters: full resolution (no reference: D_lambda, D_s, QNR,
D_lambda of Khan, HQNR of a fused raster) or reduced resolution (Wald protocol: degrade MS and
PAN by the ratio, fuse the degraded pair with the same method, compare with the original MS:
SAM, ERGAS, Q2n, SCC), and the table written as CSV or HTML.

Reduced resolution simulates the toolbox's degradation (resize_images: MS MTF-filtered and
decimated at the toolbox's phase; PAN by bicubic imresize, or MTF-filtered as an option), so the
classical methods fuse the reduced pair with ``phase="toolbox"``. Full resolution compares a
fused raster on the PAN grid with the MS upsampled at the geometric phase, where
rsai:pansharpen puts it.
"""
from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UserError
from ..runtime import raster
from . import classical, metrics
from ..runtime.grids import same_crs
from ..files import write_files
from .rasters import Pair, overview
from ..runtime.gdal_exceptions import gdal_exceptions

REDUCED = ("SAM", "ERGAS", "Q2n", "SCC")
FULL = ("D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR")
PROTOCOL_NAMES = {  # how the report names metrics.PAN_DEGRADATIONS
    "bicubic": "toolbox Wald protocol (resize_images): MS MTF-filtered and decimated, PAN by "
               "bicubic imresize",
    "mtf": "Wald protocol with MTF-filtered PAN: MS and PAN MTF-filtered and decimated",
}
FULL_RESOLUTION_PROTOCOL = ("full resolution (no reference): FUSED against its own MS (upsampled "
                            "at the geometric phase) and PAN")
BETTER = {"SAM": "toward 0", "ERGAS": "toward 0", "Q2n": "toward 1", "SCC": "toward 1",
          "D_lambda": "toward 0", "D_s": "toward 0", "QNR": "toward 1", "D_lambda_K": "toward 0",
          "HQNR": "toward 1"}  # which way each index is better
GRID_TOLERANCE = 1e-3  # of a PAN pixel: how far FUSED's origin may lie from the PAN's


def fuse_in_memory(method: str, ms_lr: np.ndarray, pan: np.ndarray, ratio: int, sensor: str,
                   model=None, scale: float = 2047.0, device=None, phase: str = "toolbox",
                   warn: Callable[[str], None] | None = None) -> np.ndarray:
    """The tool's method on arrays held in memory (reduced-resolution quality). Classical
    methods (Brovey included) upsample at ``phase``, the toolbox's by default since the pair
    was degraded the toolbox's way; ADWM networks upsample the MS themselves."""
    if model is not None:
        from .adwm import pansharpen_adwm
        return pansharpen_adwm(model, ms_lr, pan, scale=scale, device=device, warn=warn)
    return classical.pansharpen(method, ms_lr, pan, ratio, sensor, phase=phase)


def _refuse_nodata(*arrays: np.ndarray) -> None:
    if any(np.isnan(a).any() for a in arrays):
        raise UserError("the MS, PAN or FUSED raster has nodata pixels; the quality indices need "
                        "complete images. Clip the rasters to their valid area (e.g. gdal_translate "
                        "-projwin) and run again.")


@gdal_exceptions()
def reduced_resolution(pair: Pair, method: str, sensor: str, model=None, scale: float = 2047.0,
                       device=None, log: Callable[[str], None] = print,
                       pan_degradation: str = "bicubic",
                       warn: Callable[[str], None] | None = None) -> dict:
    """Wald protocol on the whole pair; the 21-pixel border cut is skipped for small images."""
    ms, pan = overview(pair)
    ms, pan = ms.astype(np.float64), pan.astype(np.float64)
    _refuse_nodata(ms, pan)
    ms_red, pan_red, reference = metrics.reduced_resolution_pair(ms, pan, pair.ratio, sensor,
                                                                 pan_degradation)
    fused = fuse_in_memory(method, ms_red, pan_red, pair.ratio, sensor, model, scale, device,
                           warn=warn)
    cut = metrics.BORDER_CUT if min(reference.shape[1:]) >= 4 * metrics.BORDER_CUT + 32 else None
    if cut is None:
        log(f"The MS is small ({reference.shape[2]} x {reference.shape[1]} px): indices are "
            "computed without the 21-pixel border cut.")
    return metrics.reduced_resolution_indices(fused, reference, pair.ratio, cut=cut)


def check_on_pan_grid(pair: Pair, fused: raster.RasterInfo) -> None:
    """FUSED must be on the PAN's grid (size, pixel size, origin, CRS), band for band the MS."""
    pan = pair.pan
    dx = (fused.geotransform[0] - pan.geotransform[0]) / pan.geotransform[1] + 0.0  # columns
    dy = (fused.geotransform[3] - pan.geotransform[3]) / pan.geotransform[5] + 0.0  # rows
    same_pixel = all(math.isclose(fused.geotransform[i], pan.geotransform[i], rel_tol=1e-6)
                     for i in (1, 2, 4, 5))
    if ((fused.width, fused.height) != (pan.width, pan.height) or not same_pixel
            or max(abs(dx), abs(dy)) > GRID_TOLERANCE):
        raise UserError(f"FUSED ({fused.width} x {fused.height} px, origin {fused.geotransform[0]:.3f}, "
                        f"{fused.geotransform[3]:.3f}, pixel {fused.geotransform[1]:g}) is not on the "
                        f"PAN grid ({pan.width} x {pan.height} px, origin {pan.geotransform[0]:.3f}, "
                        f"{pan.geotransform[3]:.3f}, pixel {pan.geotransform[1]:g}; FUSED is "
                        f"{dx:+.2f} columns, {dy:+.2f} rows off). Give the output of rsai:pansharpen for "
                        "this PAN, or resample FUSED onto the PAN grid (gdalwarp with the PAN's "
                        "extent and resolution).")
    if fused.projection and pan.projection and not same_crs(fused.projection, pan.projection):
        raise UserError("FUSED and PAN have different CRS; give the output of rsai:pansharpen "
                        "for this PAN, or warp FUSED onto the PAN grid.")
    if fused.band_count != pair.band_count:
        raise UserError(f"FUSED has {fused.band_count} bands but the MS has {pair.band_count}; "
                        "give the fused image of this MS.")


@gdal_exceptions()
def full_resolution(pair: Pair, fused_path: str, sensor: str) -> dict:
    """Indices of the fused raster (on the PAN grid) against its own MS and PAN."""
    ds = raster.open_raster(fused_path, "FUSED raster")
    info = raster.raster_info(ds)
    check_on_pan_grid(pair, info)
    ms, pan = overview(pair)
    fused = raster.read_window(ds, 0, 0, info.width, info.height)
    fused[:, ~raster.valid_mask(fused, info.nodata)] = np.nan
    _refuse_nodata(ms, pan, fused)
    return metrics.full_resolution_indices(fused, ms.astype(np.float64), pan.astype(np.float64),
                                           pair.ratio, sensor)


def write_table(path: str, indices: dict, about: dict) -> Path:
    """CSV (index, value, which way is better, the protocol that made them) or an HTML table
    with every ``about`` item above it, by the file's extension; written under a temporary
    name, then renamed."""
    path = Path(path)
    if path.suffix.lower() in (".html", ".htm"):
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6f}</td>"
                       f"<td>{BETTER.get(k, '')}</td></tr>" for k, v in indices.items())
        meta = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in about.items())
        text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Pansharpening "
                f"quality</title></head><body><h1>Pansharpening quality</h1><ul>{meta}</ul>"
                f"<table border='1'><tr><th>index</th><th>value</th><th>better</th></tr>{rows}"
                "</table></body></html>\n")
    else:
        lines = io.StringIO(newline="")
        writer = csv.writer(lines)
        writer.writerow(["index", "value", "better", "protocol"])
        for key, value in indices.items():
            writer.writerow([key, f"{value:.6f}", BETTER.get(key, ""), about.get("protocol", "")])
        text = lines.getvalue()
    write_files({path: text})
    return path
