"""The shared .mat pansharpening pairs as georeferenced GeoTIFFs (written into tmp folders,
never into the repo): EPSG:32633, same origin, PAN pixel 0.5 m, MS pixel 2 m (ratio 4)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from osgeo import gdal

from helpers import write_geotiff

ORIGIN = (500000.0, 5000000.0)
PAN_PIXEL, MS_PIXEL = 0.5, 2.0
WV_BANDS = ("coastal", "blue", "green", "yellow", "red", "red edge", "NIR1", "NIR2")


def load_pair(shared_data: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(ms_lr (8, h, w), pan (4h, 4w)) as float64 DN; name 'WV2' or 'WV3'."""
    folder = Path(shared_data) / "pansharpening"
    if name == "WV2":
        mat = scipy.io.loadmat(folder / "py_pansharpening_imgWV2.mat")
        ms = mat["I_MS"]
    else:
        mat = scipy.io.loadmat(folder / "zpnn_WV3_example.mat")
        ms = mat["I_MS_LR"]
    return ms.astype(np.float64).transpose(2, 0, 1), mat["I_PAN"].astype(np.float64)


def geotransform(pixel: float) -> tuple:
    return (ORIGIN[0], pixel, 0.0, ORIGIN[1], 0.0, -pixel)


def write_pair(shared_data: Path, name: str, folder: Path) -> tuple[Path, Path]:
    """pan.tif and ms.tif (UInt16, as in the .mat files) in ``folder``."""
    ms, pan = load_pair(shared_data, name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pan_path = write_geotiff(folder / f"{name}_pan.tif", pan[None].astype(np.uint16),
                             geotransform(PAN_PIXEL), descriptions=("PAN",))
    ms_path = write_geotiff(folder / f"{name}_ms.tif", ms.astype(np.uint16),
                            geotransform(MS_PIXEL), descriptions=WV_BANDS)
    return pan_path, ms_path


def gdal_cubic(ms_lr: np.ndarray, ratio: int) -> np.ndarray:
    """GDAL's cubic upsampling of (B, h, w) by ``ratio``: what RasterIO does for the Brovey
    strips of rsai:pansharpen (and for GDAL's own pansharpening)."""
    b, h, w = ms_lr.shape
    ds = gdal.GetDriverByName("MEM").Create("", w, h, b, gdal.GDT_Float32)
    for i in range(b):
        ds.GetRasterBand(i + 1).WriteArray(np.asarray(ms_lr[i], dtype=np.float32))
    return ds.ReadAsArray(0, 0, w, h, buf_xsize=w * ratio, buf_ysize=h * ratio,
                          resample_alg=gdal.GRIORA_Cubic).reshape(b, h * ratio, w * ratio)
