"""Test helpers: small real ONNX models, GeoTIFFs from the shared samples, qgis_process runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

from rsai_toolbox.models.runtime.conv_onnx import write_conv_onnx

REPO = Path(__file__).resolve().parents[1]
QGIS_PROCESS = REPO / "scripts" / "qgis_process"

# landcover_s2 grid, from its PROVENANCE.md
LANDCOVER_GEOTRANSFORM = (465181.05, 9.9948, 0.0, 5080254.63, 0.0, -9.9973)
S2_L1C_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
                "B11", "B12")


def conv_onnx(path: Path, in_channels: int, out_channels: int, kernel: int = 1, seed: int = 0,
              metadata: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A random one-layer convolution network as ONNX; returns its (weight, bias)."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 1, (out_channels, in_channels, kernel, kernel)).astype(np.float32)
    bias = rng.normal(0, 0.1, out_channels).astype(np.float32)
    write_conv_onnx(path, weight, bias, metadata)
    return weight, bias


def apply_pointwise(weight: np.ndarray, bias: np.ndarray, image: np.ndarray) -> np.ndarray:
    """What a 1x1 conv computes on (C, H, W): the expected model output, without the model."""
    return np.einsum("kc,chw->khw", weight[:, :, 0, 0], image) + bias[:, None, None]


GDAL_TYPES = {np.dtype(np.float32): gdal.GDT_Float32, np.dtype(np.float64): gdal.GDT_Float64,
              np.dtype(np.uint8): gdal.GDT_Byte, np.dtype(np.uint16): gdal.GDT_UInt16,
              np.dtype(np.int16): gdal.GDT_Int16, np.dtype(np.int32): gdal.GDT_Int32}


def write_geotiff(path: Path, array: np.ndarray, geotransform=LANDCOVER_GEOTRANSFORM,
                  epsg: int | None = 32633, nodata: float | None = None,
                  descriptions=()) -> Path:
    """(bands, rows, cols) or (rows, cols) array to a GeoTIFF of the array's type (other
    integer types: UInt16; other floats: Float32)."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    dtype = GDAL_TYPES.get(array.dtype,
                           gdal.GDT_Float32 if array.dtype.kind == "f" else gdal.GDT_UInt16)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[2], array.shape[1],
                                              array.shape[0], dtype)
    ds.SetGeoTransform(geotransform)
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(array):
        b = ds.GetRasterBand(i + 1)
        b.WriteArray(band)
        if nodata is not None:
            b.SetNoDataValue(nodata)
        if i < len(descriptions):
            b.SetDescription(descriptions[i])
    ds = None
    return path


def landcover_scene(shared_data: Path, scene: int = 2) -> np.ndarray:
    """One real landcover_s2 scene as (13, 101, 100) float32 TOA reflectance (0..1)."""
    scenes = np.load(shared_data / "landcover_s2" / "REFERENCE_SCENES.npy", mmap_mode="r")
    return np.ascontiguousarray(np.moveaxis(np.asarray(scenes[scene]), -1, 0), np.float32)


def landcover_geotiff(shared_data: Path, path: Path, scene: int = 2) -> Path:
    """The real landcover_s2 scene as a 13-band GeoTIFF (TOA reflectance 0..1)."""
    return write_geotiff(path, landcover_scene(shared_data, scene), LANDCOVER_GEOTRANSFORM,
                         descriptions=S2_L1C_BANDS)


def landcover_polygons(shared_data: Path) -> Path:
    """The labelled polygons of landcover_s2 (LULC_ID, LULC_NAME), in the scene's CRS."""
    return shared_data / "landcover_s2" / "LULC_polygons.gpkg"


def read(path: Path) -> tuple[np.ndarray, gdal.Dataset]:
    ds = gdal.Open(str(path))
    return ds.ReadAsArray(), ds


def qgis_process(*args: str, env: dict | None = None, check: bool = True,
                 timeout: int = 600) -> subprocess.CompletedProcess:
    """Run scripts/qgis_process; ``env`` adds variables (use an isolated QGIS profile)."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([str(QGIS_PROCESS), *args], capture_output=True, text=True,
                            env=full_env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"qgis_process {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result
