"""The tool's raster layer (rasters.pansharpen_classical, quality) on GeoTIFFs: Brovey strips,
registration from the geotransforms, nodata, the quality tool's grid check."""
import numpy as np
import pytest
from osgeo import gdal
from scipy import ndimage

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.pansharpening import classical, quality, rasters
from rsai_toolbox.models.runtime.raster import FLOAT_NODATA

from helpers import write_geotiff
from helpers_pansharpening import ORIGIN, gdal_cubic, geotransform, load_pair


def _tif(path, arr, gt):
    arr = arr if arr.ndim == 3 else arr[None]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1], arr.shape[0],
                                              gdal.GDT_UInt16)
    ds.SetGeoTransform(gt)
    for b, band in enumerate(arr):
        ds.GetRasterBand(b + 1).WriteArray(band)
    ds = None
    return str(path)


def _read(path):
    ds = gdal.Open(str(path))
    return ds.ReadAsArray(), ds.GetRasterBand(1).GetNoDataValue()


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(1)
    ms = rng.integers(0, 2048, (3, 150, 130)).astype(np.uint16)
    ms[:, :10, :10] = 0  # pseudo-PAN 0 -> output 0
    pan = rng.integers(1, 2048, (598, 517)).astype(np.uint16)  # not a multiple of 4
    return (ms, pan, _tif(tmp_path / "pan.tif", pan, (0, 1, 0, 0, 0, -1)),
            _tif(tmp_path / "ms.tif", ms, (0, 4, 0, 0, 0, -4)))


@pytest.mark.parametrize("output_type", ["float32", "input"])
def test_brovey_tiles_equal_brovey_on_gdal_cubic(pair, tmp_path, output_type):
    """Brovey through the engine (3 x 3 tiles of 256 px, the MS upsampled by GDAL in each
    tile's read) equals the pointwise Brovey on GDAL's cubic upsampling of the whole MS."""
    ms, pan, pan_path, ms_path = pair
    weights = [0.2, 0.5, 0.3]
    out = tmp_path / "out.tif"
    result = rasters.pansharpen_classical(rasters.open_pair(pan_path, ms_path), "brovey",
                                          str(out), output_type=output_type, weights=weights,
                                          tile=256)
    assert result.run.tiles == 9
    got = gdal.Open(str(out)).ReadAsArray()
    pan_padded = np.pad(pan.astype(np.float32), ((0, 2), (0, 3)), mode="edge")
    expected = rasters.brovey(weights, gdal_cubic(ms, 4), pan_padded)[:, :598, :517]
    assert got.shape == (3, 598, 517)
    assert np.all(expected[:, :16, :16] == 0)
    if output_type == "float32":
        assert got.dtype == np.float32 and np.array_equal(got, expected)
    else:  # the engine's integer outputs: rounded to nearest (ties to even), the top value nodata
        assert got.dtype == np.uint16
        assert np.array_equal(got, np.clip(np.rint(expected), 0, 65534).astype(np.uint16))
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


# --------------------------------------------------------------------------- registration
def _smooth(rng, shape, low, high):
    coarse = rng.uniform(low, high, (shape[0], 4, 4))
    return np.stack([ndimage.zoom(c, (shape[1] / 4, shape[2] / 4), order=3, mode="nearest")
                     for c in coarse])


@pytest.mark.parametrize("ratio,shift", [(4, (0.0, 0.0)), (4, (0.3, -0.45)), (3, (0.0, 0.0)),
                                         (3, (-0.2, 0.35))])
def test_a_bright_ms_pixel_lands_on_its_map_coordinate(tmp_path, ratio, shift):
    """A brighter MS pixel at a known map coordinate comes out centred on that coordinate (to
    a tenth of a PAN pixel) in every method's output, also when the MS grid is shifted by a
    fraction of an MS pixel: the geotransform decides (GDAL warps the MS), nothing is assumed."""
    rng = np.random.default_rng(ratio)
    pan_px, ms_px = 0.5, 0.5 * ratio
    ms = _smooth(rng, (4, 30, 30), 300, 600)
    # a PAN that sees what the MS sees (roughly registered) plus its own detail
    pan = (ndimage.zoom(ms.mean(axis=0), ratio, order=1)[ratio:ratio * 25, ratio:ratio * 25]
           + _smooth(rng, (1, 24 * ratio, 24 * ratio), -30, 30)[0])[None]
    spot = ms.copy()
    spot[0, 13, 14] += 600
    # MS origin one pixel up-left of the PAN's (so it covers it), plus the fractional shift
    ms_gt = (ORIGIN[0] - ms_px * (1 - shift[1]), ms_px, 0.0, ORIGIN[1] + ms_px * (1 - shift[0]), 0.0, -ms_px)
    pan_path = write_geotiff(tmp_path / "pan.tif", pan.astype(np.float32), geotransform(pan_px))
    x = ms_gt[0] + 14.5 * ms_px  # the spot's centre on the map
    y = ms_gt[3] - 13.5 * ms_px
    centre = ((ORIGIN[1] - y) / pan_px - 0.5, (x - ORIGIN[0]) / pan_px - 0.5)  # PAN pixel coordinates
    outputs, params = {}, {}
    for name, image in (("flat", ms), ("spot", spot)):
        ms_path = write_geotiff(tmp_path / f"{name}.tif", image.astype(np.float32), ms_gt)
        pair = rasters.open_pair(str(pan_path), str(ms_path))
        assert pair.ratio == ratio
        for method in classical.METHODS:
            out = tmp_path / f"{name}_{method}.tif"
            logged = []
            # both runs with the scene's statistics, so the difference is the spot's response
            params[method] = rasters.pansharpen_classical(
                pair, method, str(out), callbacks=Callbacks(log=logged.append),
                params=params.get(method)).params
            aligned = any("window reads at ratio" in line for line in logged)
            assert aligned == (shift == (0.0, 0.0)), logged  # else each tile is warped
            outputs[name, method] = _read(out)[0][0].astype(np.float64)
    ys, xs = np.mgrid[:24 * ratio, :24 * ratio]
    window = np.maximum(np.abs(ys - centre[0]), np.abs(xs - centre[1])) <= 3 * ratio
    for method in classical.METHODS:
        diff = np.where(window, outputs["spot", method] - outputs["flat", method], 0.0)
        got = ((diff * ys).sum() / diff.sum(), (diff * xs).sum() / diff.sum())
        assert np.abs(np.subtract(got, centre)).max() < 0.1, (method, got, centre)


# --------------------------------------------------------------------------- nodata
@pytest.fixture(scope="module")
def wv2_crop(shared_data):
    ms, pan = load_pair(shared_data, "WV2")
    return ms[:, :128, :128], pan[:512, :512]


@pytest.mark.parametrize("method", classical.METHODS)
def test_an_ms_nodata_border_is_masked_in_the_fit_and_written_as_nodata(method, wv2_crop, tmp_path):
    """MS with nodata 0 on its outer 20 pixels: the output is nodata on the border (and only
    there), and the rest equals the fusion of the valid part alone (median change under 1%;
    9.7% when the border entered the global fit)."""
    ms, pan = wv2_crop
    b = 20
    framed = ms.copy()
    framed[:, :b], framed[:, -b:], framed[:, :, :b], framed[:, :, -b:] = 0, 0, 0, 0
    pan_path = write_geotiff(tmp_path / "pan.tif", pan.astype(np.uint16), geotransform(0.5))
    ms_path = write_geotiff(tmp_path / "ms.tif", framed.astype(np.uint16), geotransform(2.0), nodata=0)
    crop_gt = (ORIGIN[0] + 2.0 * b, 2.0, 0.0, ORIGIN[1] - 2.0 * b, 0.0, -2.0)
    crop_ms = write_geotiff(tmp_path / "crop_ms.tif", ms[:, b:-b, b:-b].astype(np.uint16), crop_gt)
    crop_pan = write_geotiff(tmp_path / "crop_pan.tif", pan[4 * b:-4 * b, 4 * b:-4 * b].astype(np.uint16),
                             (crop_gt[0], 0.5, 0.0, crop_gt[3], 0.0, -0.5))
    rasters.pansharpen_classical(rasters.open_pair(str(pan_path), str(ms_path)), method,
                                 str(tmp_path / "out.tif"), "WV2")
    rasters.pansharpen_classical(rasters.open_pair(str(crop_pan), str(crop_ms)), method,
                                 str(tmp_path / "crop.tif"), "WV2")
    out, nodata = _read(tmp_path / "out.tif")
    crop, _ = _read(tmp_path / "crop.tif")
    border = np.ones(pan.shape, bool)
    border[4 * b:-4 * b, 4 * b:-4 * b] = False
    assert nodata == FLOAT_NODATA
    assert (out[:, border] == nodata).all() and (out[:, ~border] != nodata).all()
    inside = out[:, 4 * b:-4 * b, 4 * b:-4 * b]
    assert np.median(np.abs(inside - crop) / np.maximum(np.abs(crop), 1.0)) < 0.01


def test_pan_nodata_and_ms_not_covering_the_pan_are_nodata(wv2_crop, tmp_path):
    """PAN nodata pixels, and PAN pixels the MS does not reach, are nodata in the output (not
    fused with zeros), in float32 and in the MS's own type."""
    ms, pan = wv2_crop
    pan_nd = pan.copy()
    pan_nd[100:140, 200:260] = 0
    pan_path = write_geotiff(tmp_path / "pan.tif", pan_nd.astype(np.uint16), geotransform(0.5), nodata=0)
    half_ms = write_geotiff(tmp_path / "ms.tif", ms[:, :, :64].astype(np.uint16), geotransform(2.0))
    for method, output_type in (("gsa", "float32"), ("brovey", "input"), ("brovey", "float32")):
        out_path = tmp_path / f"{method}_{output_type}.tif"
        rasters.pansharpen_classical(rasters.open_pair(str(pan_path), str(half_ms)), method,
                                     str(out_path), "WV2", output_type=output_type)
        out, nodata = _read(out_path)
        expected = np.zeros(pan.shape, bool)
        expected[100:140, 200:260] = True
        expected[:, 256:] = True
        assert np.array_equal((out == nodata).all(axis=0), expected), (method, output_type)


# --------------------------------------------------------------------------- quality
def test_quality_full_resolution_refuses_a_fused_raster_off_the_pan_grid(wv2_crop, tmp_path):
    ms, pan = wv2_crop
    pan_path = write_geotiff(tmp_path / "pan.tif", pan.astype(np.uint16), geotransform(0.5))
    ms_path = write_geotiff(tmp_path / "ms.tif", ms.astype(np.uint16), geotransform(2.0))
    pair = rasters.open_pair(str(pan_path), str(ms_path))
    rasters.pansharpen_classical(pair, "gsa", str(tmp_path / "fused.tif"), "WV2")
    fused = _read(tmp_path / "fused.tif")[0]
    good = quality.full_resolution(pair, str(tmp_path / "fused.tif"), "WV2")
    assert 0 < good["HQNR"] < 1
    moved = list(geotransform(0.5))
    moved[0] += 0.5  # one PAN pixel east
    shifted = write_geotiff(tmp_path / "shifted.tif", fused, tuple(moved))
    with pytest.raises(UserError, match=r"not on the PAN grid .*\+1\.00 columns, \+0\.00 rows off"):
        quality.full_resolution(pair, str(shifted), "WV2")


# Vivone's toolbox on the WV2 pair under its own protocol (issue 11): Q2n, ERGAS.
TOOLBOX_WV2 = {"gsa": (0.8872, 4.737), "mtf_glp_hpm": (0.9027, 4.256), "bdsd_pc": (0.9023, 4.337),
               "awlp": (0.8999, 4.374)}


@pytest.fixture(scope="module")
def wv2_pair(shared_data, tmp_path_factory):
    from helpers_pansharpening import write_pair
    pan_path, ms_path = write_pair(shared_data, "WV2", tmp_path_factory.mktemp("wv2"))
    return rasters.open_pair(str(pan_path), str(ms_path))


@pytest.mark.parametrize("method", list(TOOLBOX_WV2))
def test_quality_tool_default_protocol_gives_the_toolbox_figures(method, wv2_pair):
    """The quality tool's reduced-resolution default (the toolbox's protocol) scores the four
    toolbox methods within 0.005 Q2n and 0.05 ERGAS of the toolbox's own figures."""
    got = quality.reduced_resolution(wv2_pair, method, "WV2")
    q2n, ergas = TOOLBOX_WV2[method]
    assert abs(got["Q2n"] - q2n) <= 0.005 and abs(got["ERGAS"] - ergas) <= 0.05
