"""Quality of a pansharpening on rasters: full resolution (no reference: D_lambda, D_s, QNR,
D_lambda of Khan, HQNR of a fused raster) or reduced resolution (Wald protocol: degrade MS and
PAN by the ratio, fuse the degraded pair with the same method, compare with the original MS:
SAM, ERGAS, Q2n, SCC), and the table written as CSV or HTML."""
from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Callable

import numpy as np
from osgeo import gdal

from ..errors import UserError
from ..runtime import raster
from . import classical, metrics
from .rasters import Pair, brovey

REDUCED = ("SAM", "ERGAS", "Q2n", "SCC")
FULL = ("D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR")


def fuse_in_memory(method: str, ms_lr: np.ndarray, pan: np.ndarray, ratio: int, sensor: str,
                   model=None, scale: float = 2047.0, device=None) -> np.ndarray:
    """The tool's method on arrays held in memory (reduced-resolution quality). Weighted
    Brovey upsamples the MS with GDAL's cubic resampling, as rsai:pansharpen does."""
    if model is not None:
        from .adwm import pansharpen_adwm
        return pansharpen_adwm(model, ms_lr, pan, scale=scale, device=device)
    if method == "brovey":
        return brovey(np.full(ms_lr.shape[0], 1.0 / ms_lr.shape[0]), gdal_cubic(ms_lr, ratio), pan)
    return classical.pansharpen(method, ms_lr, pan, ratio, sensor)


def gdal_cubic(ms_lr: np.ndarray, ratio: int) -> np.ndarray:
    """GDAL's cubic upsampling of (B, h, w) by ``ratio`` (what RasterIO does for the tool)."""
    b, h, w = ms_lr.shape
    ds = gdal.GetDriverByName("MEM").Create("", w, h, b, gdal.GDT_Float32)
    for i in range(b):
        ds.GetRasterBand(i + 1).WriteArray(np.asarray(ms_lr[i], dtype=np.float32))
    return ds.ReadAsArray(0, 0, w, h, buf_xsize=w * ratio, buf_ysize=h * ratio,
                          resample_alg=gdal.GRIORA_Cubic).reshape(b, h * ratio, w * ratio)


def reduced_resolution(pair: Pair, method: str, sensor: str, model=None, scale: float = 2047.0,
                       device=None, log: Callable[[str], None] = print) -> dict:
    """Wald protocol on the whole pair; the 21-pixel border cut is skipped for small images."""
    ms, pan = pair.read_all()
    ms, pan = ms.astype(np.float64), pan.astype(np.float64)
    ms_red, pan_red, reference = metrics.reduced_resolution_pair(ms, pan, pair.ratio, sensor)
    fused = fuse_in_memory(method, ms_red, pan_red, pair.ratio, sensor, model, scale, device)
    cut = metrics.BORDER_CUT if min(reference.shape[1:]) >= 4 * metrics.BORDER_CUT + 32 else None
    if cut is None:
        log(f"The MS is small ({reference.shape[2]} x {reference.shape[1]} px): indices are "
            "computed without the 21-pixel border cut.")
    return metrics.reduced_resolution_indices(fused, reference, pair.ratio, cut=cut)


def full_resolution(pair: Pair, fused_path: str, sensor: str) -> dict:
    """Indices of the fused raster (on the PAN grid) against its own MS and PAN."""
    ds = raster.open_raster(fused_path, "FUSED raster")
    if (ds.RasterXSize, ds.RasterYSize) != (pair.pan.width, pair.pan.height):
        raise UserError(f"FUSED ({ds.RasterXSize} x {ds.RasterYSize}) is not on the PAN grid "
                        f"({pair.pan.width} x {pair.pan.height}); give the output of "
                        "rsai:pansharpen for this PAN.")
    if ds.RasterCount != pair.band_count:
        raise UserError(f"FUSED has {ds.RasterCount} bands but the MS has {pair.band_count}; "
                        "give the fused image of this MS.")
    ms, pan = pair.read_all()
    fused = ds.ReadAsArray().reshape((pair.band_count,) + pan.shape).astype(np.float64)
    return metrics.full_resolution_indices(fused, ms.astype(np.float64), pan.astype(np.float64),
                                           pair.ratio, sensor)


def write_table(path: str, indices: dict, about: dict) -> Path:
    """CSV (index,value) or an HTML table, by the file's extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".html", ".htm"):
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.6f}</td></tr>" for k, v in indices.items())
        meta = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in about.items())
        path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Pansharpening "
                        f"quality</title></head><body><h1>Pansharpening quality</h1><ul>{meta}</ul>"
                        f"<table border='1'><tr><th>index</th><th>value</th></tr>{rows}</table>"
                        "</body></html>\n", encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["index", "value"])
            for key, value in indices.items():
                writer.writerow([key, f"{value:.6f}"])
    return path
