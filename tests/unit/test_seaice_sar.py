"""SAR preparation: units detected and reported, masks, block averaging, normalisation;
Sentinel-1 products through GDAL's real SAFE driver, GCP-only images warped north-up."""
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.seaice import sar, sentinel1

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers_seaice import write_safe_product  # noqa: E402

gdal.UseExceptions()


def sea_ice_linear(shape=(60, 80), seed=0):
    """Linear sigma0: first-year ice around -15 dB (HH) / -25 dB (HV) with speckle."""
    rng = np.random.default_rng(seed)
    hh = 10 ** (-1.5) * rng.exponential(1.0, shape)
    hv = 10 ** (-2.5) * rng.exponential(1.0, shape)
    return np.stack([hh, hv]).astype(np.float32)


def test_units_detected_and_described():
    linear = sea_ice_linear()
    report = sar.detect_scale(linear[0], "HH")
    assert report.kind == "linear" and report.negative_fraction == 0
    assert report.median == pytest.approx(np.median(linear[0]))
    assert "HH looks like linear sigma0" in report.describe("HH")
    db = sar.to_db(linear)
    assert sar.detect_scale(db[1], "HV").kind == "db"
    # noise-subtracted linear power with a few small negatives stays linear
    noisy = linear[1] - 0.002
    assert (noisy < 0).any() and sar.detect_scale(noisy).kind == "linear"
    # zeros (no-data frame) and a nodata value are ignored
    framed = np.pad(db[0], 5, constant_values=-9999)
    assert sar.detect_scale(framed, nodata=-9999).median == pytest.approx(np.median(db[0]))


def test_raw_counts_and_empty_bands_are_refused():
    dn = np.random.default_rng(0).integers(20, 900, (40, 40)).astype(np.float32)
    with pytest.raises(UserError, match="digital numbers.*Calibrate"):
        sar.detect_scale(dn, "HH")
    with pytest.raises(UserError, match="no valid values"):
        sar.detect_scale(np.full((4, 4), np.nan), "HV")


def test_declared_units_that_contradict_the_values_are_warned_not_followed():
    db = sar.to_db(sea_ice_linear()[0])
    warnings = []
    kind = sar.resolve_units("linear", sar.detect_scale(db, "HH"), "HH", warnings.append)
    assert kind == "db" and len(warnings) == 1 and "declared linear" in warnings[0]
    assert sar.resolve_units("db", sar.detect_scale(db), warn=warnings.append) == "db"
    assert len(warnings) == 1
    with pytest.raises(UserError, match="units"):
        sar.resolve_units("decibel", sar.detect_scale(db))


def test_db_conversion_masks_non_positive_power():
    values = np.array([1.0, 0.1, 0.0, -0.01, np.nan], np.float32)
    db = sar.to_db(values)
    assert db[:2] == pytest.approx([0.0, -10.0])
    assert np.isnan(db[2:]).all()
    assert sar.to_linear(np.array([-10.0, 0.0])) == pytest.approx([0.1, 1.0])
    assert sar.valid_mask(values).tolist() == [True, True, False, False, False]
    assert sar.valid_mask(np.array([-12.0, -9999.0]), nodata=-9999, linear=False).tolist() == [
        True, False]


def test_border_noise_strips_are_masked_up_to_the_limit():
    band = np.full((20, 30), -14.0, np.float32)
    band[:, :3] = np.nan  # no-data frame
    band[:, 3:7] = -42.0  # border noise
    band[5, 7] = -45.0  # one row with a longer strip
    band[:, 25:] = -40.0  # far-range border noise
    band[12, 15] = -50.0  # dark pixel inside the scene: not border noise
    mask = sar.border_noise_mask(band, threshold_db=-35, limit=10)
    assert mask[:, :7].all() and mask[5, 7] and not mask[4, 7]
    assert mask[:, 25:].all() and not mask[:, 8:25].any()  # the dark pixel at (12, 15) too
    capped = sar.border_noise_mask(band, threshold_db=-35, limit=2)
    # 2 pixels past the first valid one (the column scans also take 2 rows at top and bottom)
    assert capped[:, :5].all() and not capped[2:-2, 5:7].any() and capped[:2, 5:7].all()
    assert sar.border_noise_mask(band, limit=10, margin=1)[:, 7].all()


def test_block_average_ignores_nan_and_keeps_partial_edges():
    a = np.arange(30, dtype=np.float32).reshape(5, 6)
    a[0, 0] = np.nan
    out = sar.block_average(a, 2)
    assert out.shape == (3, 3)
    assert out[0, 0] == pytest.approx(np.mean([1, 6, 7]))
    assert out[2, 1] == pytest.approx(np.mean([26, 27]))  # bottom partial block
    assert np.isnan(sar.block_average(np.full((2, 2), np.nan), 2)).all()
    # dB averaged in linear power: the mean of -10 and -20 dB is -12.6 dB, not -15
    db = np.array([[-10.0, -20.0]], np.float32)
    assert sar.average_db(db, 2)[0, 0] == pytest.approx(10 * np.log10((0.1 + 0.01) / 2), abs=1e-5)


def test_averaging_factor_to_the_model_pixel():
    assert sar.averaging_factor(40, 80) == 2
    assert sar.averaging_factor(10, 80) == 8
    warnings = []
    assert sar.averaging_factor(25, 80, warnings.append) == 3 and "75 m" in warnings[0]
    with pytest.raises(UserError, match="coarser"):
        sar.averaging_factor(100, 80)


def test_prepare_dual_pol_normalises_with_ai4arctic_statistics():
    linear = sea_ice_linear((80, 80))
    linear[:, :, :4] = 0.0  # no-data frame
    out = sar.prepare_dual_pol(linear, pixel_m=40, target_m=80, mask_borders=False)
    assert out.factor == 2 and out.units == ["linear", "linear"]
    assert out.data.shape == (2, 40, 40) and not out.valid[:, :2].any() and out.valid[:, 3:].all()
    hh_db = sar.average_db(sar.to_db(linear[0]), 2)
    expected = (hh_db - (-14.508)) / 5.660
    assert np.allclose(out.data[0][out.valid], expected[out.valid], atol=1e-5)
    # the same scene given in dB (declared wrongly as linear) gives the same result, warned
    warnings = []
    again = sar.prepare_dual_pol(np.where(linear > 0, sar.to_db(linear), np.nan), units="linear",
                                 pixel_m=40, target_m=80, mask_borders=False,
                                 warn=warnings.append)
    assert np.allclose(again.data[:, again.valid], out.data[:, out.valid], atol=1e-4)
    assert len(warnings) == 2
    with pytest.raises(UserError, match="2 bands"):
        sar.prepare_dual_pol(linear[:1])


def test_normalise():
    bands = np.ones((2, 3, 3), np.float32)
    out = sar.normalise(bands, [1.0, 0.0], [1.0, 2.0])
    assert (out[0] == 0).all() and (out[1] == 0.5).all()
    with pytest.raises(UserError, match="positive"):
        sar.normalise(bands, [0, 0], [1, 0])


# -- Sentinel-1 products and GCP-only rasters through GDAL --------------------------------------
def test_safe_product_without_calibration_support_is_a_clear_error(tmp_path):
    safe = write_safe_product(tmp_path / "p")
    archive = Path(shutil.make_archive(str(tmp_path / "product"), "zip", root_dir=tmp_path / "p"))
    for product in (safe, safe / "manifest.safe", archive):
        assert sentinel1.is_sentinel1_product(product)
        dataset = sentinel1.open_product(product)
        assert sentinel1.polarisations(dataset) == ["HH", "HV"]
        offered = sentinel1.sigma0_subdatasets(dataset)
        if offered:  # a GDAL that calibrates GRD products
            out = sentinel1.sigma0_vrt(product, tmp_path / "work")
            assert gdal.Open(str(out)).RasterCount == 2
            continue
        with pytest.raises(UserError, match="offers no calibrated sigma0.*SNAP.*esa_snappy"):
            sentinel1.sigma0_vrt(product, tmp_path / "work")
    assert not (tmp_path / "work").exists() or not list((tmp_path / "work").iterdir())


def test_single_polarisation_product_is_refused(tmp_path):
    safe = write_safe_product(tmp_path / "p", polarisations=("HH",))
    with pytest.raises(UserError, match="polarisation.*HH.*needs HH, HV"):
        sentinel1.sigma0_vrt(safe, tmp_path / "work")
    not_safe = tmp_path / "x.zip"
    not_safe.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    assert not sentinel1.is_sentinel1_product(not_safe)
    with pytest.raises(UserError, match="no .SAFE folder"):
        sentinel1.gdal_product_name(not_safe)


def _gcp_only_tiff(path, values, corners):
    """A float GeoTIFF georeferenced only by a 3 x 3 grid of GCPs (lat/lon)."""
    rows, cols = values.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, 1, gdal.GDT_Float32)
    ds.GetRasterBand(1).WriteArray(values)
    ds.GetRasterBand(1).SetNoDataValue(-9999)
    (lat0, lon0), (lat1, lon1) = corners
    gcps = [gdal.GCP(lon0 + fx * (lon1 - lon0), lat0 + fy * (lat1 - lat0), 0,
                     fx * cols, fy * rows) for fy in (0, .5, 1) for fx in (0, .5, 1)]
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    ds.SetGCPs(gcps, srs.ExportToWkt())
    ds = None
    return path


def test_gcp_only_scene_is_warped_north_up(tmp_path):
    rows, cols = 60, 90
    # values that grow eastwards: after warping, west must stay low and east high
    values = np.tile(np.linspace(-30, -5, cols, dtype=np.float32), (rows, 1))
    hh = _gcp_only_tiff(tmp_path / "hh.tif", values, ((78.0, 10.0), (77.0, 16.0)))
    hv = _gcp_only_tiff(tmp_path / "hv.tif", values - 10, ((78.0, 10.0), (77.0, 16.0)))
    stack = sentinel1.stack_vrt([str(hh), str(hv)], ["HH", "HV"], tmp_path / "stack.vrt")
    out = sentinel1.north_up_vrt(stack, tmp_path / "north_up.vrt")
    ds = gdal.Open(str(out))
    gt = ds.GetGeoTransform()
    assert gt[2] == 0 and gt[4] == 0 and gt[5] < 0 < gt[1]
    srs = osr.SpatialReference(wkt=ds.GetProjection())
    assert srs.GetAuthorityCode(None) == "3413"  # polar stereographic north at 77-78 N
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(2)] == ["HH", "HV"]
    data = ds.ReadAsArray()
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    assert nodata == -9999
    valid = data[0] != nodata
    assert valid.sum() > 0.3 * valid.size
    assert np.allclose(data[1][valid], data[0][valid] - 10, atol=1e-4)
    # each warped pixel's longitude predicts its value (the field is linear in longitude)
    transform = osr.CoordinateTransformation(srs, _wgs84())
    r, c = np.nonzero(valid)
    pick = np.linspace(0, len(r) - 1, 50).astype(int)
    for i in pick:
        x = gt[0] + (c[i] + 0.5) * gt[1]
        y = gt[3] + (r[i] + 0.5) * gt[5]
        lon = transform.TransformPoint(x, y)[0]
        expected = -30 + 25 * (lon - 10.0) / 6.0
        assert abs(data[0][r[i], c[i]] - expected) < 0.6
    # a raster that already has a geotransform is returned as it is
    assert sentinel1.north_up_vrt(out, tmp_path / "again.vrt") == out


def _wgs84():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def test_ungeoreferenced_raster_is_refused(tmp_path):
    path = tmp_path / "plain.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 10, 10, 1, gdal.GDT_Float32)
    ds = None
    with pytest.raises(UserError, match="neither a geotransform nor ground control points"):
        sentinel1.north_up_vrt(path, tmp_path / "out.vrt")


def test_grid_crs_for_the_scene():
    assert sentinel1.grid_crs_for(75, -40) == "EPSG:3413"
    assert sentinel1.grid_crs_for(-70, 100) == "EPSG:3976"
    assert sentinel1.grid_crs_for(45, 9) == "EPSG:32632"
    assert sentinel1.grid_crs_for(-45, -70) == "EPSG:32719"
