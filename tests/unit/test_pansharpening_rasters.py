"""Weighted Brovey through the tool's strip pipeline (rasters.pansharpen_classical) on GeoTIFFs:
several strips, a short last strip and a PAN size that is not a multiple of the ratio."""
import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.pansharpening import quality, rasters


def _tif(path, arr, gt):
    arr = arr if arr.ndim == 3 else arr[None]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1], arr.shape[0],
                                              gdal.GDT_UInt16)
    ds.SetGeoTransform(gt)
    for b, band in enumerate(arr):
        ds.GetRasterBand(b + 1).WriteArray(band)
    ds = None
    return str(path)


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(1)
    ms = rng.integers(0, 2048, (3, 150, 130)).astype(np.uint16)
    ms[:, :10, :10] = 0  # pseudo-PAN 0 -> output 0
    pan = rng.integers(1, 2048, (598, 517)).astype(np.uint16)  # not a multiple of 4
    return (ms, pan, _tif(tmp_path / "pan.tif", pan, (0, 1, 0, 0, 0, -1)),
            _tif(tmp_path / "ms.tif", ms, (0, 4, 0, 0, 0, -4)))


@pytest.mark.parametrize("output_type", ["float32", "input"])
def test_brovey_strips_equal_brovey_on_gdal_cubic(pair, tmp_path, monkeypatch, output_type):
    ms, pan, pan_path, ms_path = pair
    monkeypatch.setattr(rasters, "STRIP_VALUES", 1)  # one 256-row tile row per strip: 3 strips
    weights = [0.2, 0.5, 0.3]
    out = tmp_path / "out.tif"
    rasters.pansharpen_classical(rasters.open_pair(pan_path, ms_path), "brovey", str(out),
                                 output_type=output_type, weights=weights, threads=2)
    got = gdal.Open(str(out)).ReadAsArray()
    pan_padded = np.pad(pan.astype(np.float32), ((0, 2), (0, 3)), mode="edge")
    expected = rasters.brovey(weights, quality.gdal_cubic(ms, 4), pan_padded)[:, :598, :517]
    assert got.shape == (3, 598, 517)
    assert np.all(expected[:, :16, :16] == 0)
    if output_type == "float32":
        assert got.dtype == np.float32 and np.array_equal(got, expected)
    else:  # GDAL rounds half away from zero and clips while writing, as its pansharpening does
        assert got.dtype == np.uint16
        assert np.array_equal(got, np.clip(np.floor(expected + 0.5), 0, 65535).astype(np.uint16))
    assert not list(tmp_path.glob("*.partial.tif"))
