"""Real Sentinel-2 patch (shared data) written as GeoTIFFs for the land-cover tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal, osr

GEOTRANSFORM = (465181.05, 9.9948, 0.0, 5080254.63, 0.0, -9.9973)
EPSG = 32633
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11",
            "B12")


def scene(shared_data: Path, index: int = 2) -> np.ndarray:
    """(13, 101, 100) float32 TOA reflectance of one scene."""
    arr = np.load(Path(shared_data) / "landcover_s2" / "REFERENCE_SCENES.npy", mmap_mode="r")
    return np.ascontiguousarray(np.moveaxis(np.asarray(arr[index], dtype=np.float32), -1, 0))


def write_geotiff(path, bands: np.ndarray, geotransform=GEOTRANSFORM, epsg=EPSG,
                  band_names=None, nodata=None) -> str:
    """(bands, rows, cols) array -> GeoTIFF in ``path``; returns the path as str."""
    bands = np.asarray(bands)
    if bands.ndim == 2:
        bands = bands[None]
    dtype = {np.dtype(np.float32): gdal.GDT_Float32, np.dtype(np.float64): gdal.GDT_Float64,
             np.dtype(np.uint8): gdal.GDT_Byte, np.dtype(np.uint16): gdal.GDT_UInt16}[bands.dtype]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), bands.shape[2], bands.shape[1],
                                              bands.shape[0], dtype)
    ds.SetGeoTransform(geotransform)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    for i in range(bands.shape[0]):
        b = ds.GetRasterBand(i + 1)
        b.WriteArray(bands[i])
        if band_names is not None:
            b.SetDescription(band_names[i])
        if nodata is not None:
            b.SetNoDataValue(nodata)
    ds = None
    return str(path)


def scene_geotiff(shared_data: Path, tmp_path: Path, index: int = 2, name="scene.tif") -> str:
    return write_geotiff(Path(tmp_path) / name, scene(shared_data, index), band_names=S2_BANDS)


def polygons(shared_data: Path) -> str:
    return str(Path(shared_data) / "landcover_s2" / "LULC_polygons.gpkg")
