"""Named inputs on their own grids: each tile gets exactly the values of its footprint.

The reference for each case is computed independently of the engine's reader: plain array
slicing where the grids line up, a whole-raster gdal.Warp onto the model grid where they do not.
"""

import numpy as np
import pytest
from osgeo import gdal, osr

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.cards import card_from_dict
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.runtime.backends import onnx_predictor
from rsai_toolbox.models.runtime.engine import Destination, RunOptions, run, softmax
from rsai_toolbox.models.runtime.sources import open_sources

from helpers import read, two_input_onnx, write_geotiff

ORIGIN = (500000.0, 5300000.0)
RATIO = 4


def card(ratio=RATIO, tile=64, overlap=16, resampling="bilinear"):
    return card_from_dict({
        "id": "fusion-test", "task": "segmentation", "format": "onnx",
        "inputs": [{"name": "aerial", "bands": ["r", "g", "b"]},
                   {"name": "satellite", "bands": ["s1", "s2"], "ratio": ratio,
                    "resampling": resampling}],
        "tiling": {"tile_size": tile, "overlap": overlap},
        "outputs": {"classes": [{"value": 0, "name": "a"}, {"value": 1, "name": "b"},
                                {"value": 2, "name": "c"}]}})


def smooth(bands, rows, cols, seed=0):
    """Smooth fields plus noise: resampling errors stay small but positions still matter."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    return np.stack([np.sin(x / (7 + b)) * 50 + np.cos(y / (5 + b)) * 40 + 200 + b * 10
                     + rng.normal(0, 1, (rows, cols)) for b in range(bands)]).astype(np.float32)


@pytest.fixture
def aerial(tmp_path):
    return write_geotiff(tmp_path / "aerial.tif", smooth(3, 160, 200, 1),
                         (ORIGIN[0], 1.0, 0, ORIGIN[1], 0, -1.0))


def satellite(tmp_path, geotransform, epsg=32633, rows=48, cols=60, name="sat.tif",
              nodata=None):
    return write_geotiff(tmp_path / name, smooth(2, rows, cols, 2), geotransform, epsg=epsg,
                         nodata=nodata)


def warp_reference(source, primary, resampling="bilinear"):
    """The whole satellite raster warped onto the model grid (primary grid x RATIO)."""
    p = gdal.Open(str(primary))
    gt = p.GetGeoTransform()
    target = gdal.GetDriverByName("MEM").Create("", 200 // RATIO + 20, 160 // RATIO + 20, 2,
                                                gdal.GDT_Float32)
    target.SetGeoTransform((gt[0], gt[1] * RATIO, 0, gt[3], 0, gt[5] * RATIO))
    target.SetProjection(p.GetProjection())
    for b in range(2):
        target.GetRasterBand(b + 1).SetNoDataValue(float("nan"))
        target.GetRasterBand(b + 1).Fill(float("nan"))
    gdal.Warp(target, str(source), resampleAlg=resampling, dstNodata=float("nan"),
              errorThreshold=0)
    return target.ReadAsArray()


def tile_reads(sources, windows):
    return [sources["satellite"].read(*window) for window in windows]


WINDOWS = [(0, 0, 16, 16), (12, 8, 16, 16), (40, 30, 16, 16), (-4, -4, 16, 16)]


def test_aligned_integer_ratio_is_a_window_read_equal_to_slicing(tmp_path, aerial):
    # The satellite grid starts 2 columns left and 3 rows above the aerial, 4 m pixels.
    path = satellite(tmp_path, (ORIGIN[0] - 8, 4.0, 0, ORIGIN[1] + 12, 0, -4.0))
    sources = open_sources(card(), {"aerial": str(aerial), "satellite": str(path)})
    assert sources["satellite"].aligned and sources["satellite"].offset == (2, 3)
    data = read(path)[0]
    for (col, row, w, h), block in zip(WINDOWS, tile_reads(sources, WINDOWS)):
        r0, c0 = row + 3, col + 2
        inside = block.valid
        np.testing.assert_array_equal(block.values[:, inside],
                                      np.pad(data, ((0, 0), (8, 8), (8, 8)), constant_values=np.nan)
                                      [:, r0 + 8:r0 + 8 + h, c0 + 8:c0 + 8 + w][:, inside])
        # Valid exactly where the window lies on the satellite raster.
        rows = np.arange(r0, r0 + h)[:, None]
        cols = np.arange(c0, c0 + w)[None, :]
        np.testing.assert_array_equal(inside, (rows >= 0) & (rows < 48) & (cols >= 0) & (cols < 60))


# A pure shift keeps GDAL's bilinear kernel exact; under reprojection or rotation GDAL scales
# the kernel to each warp's own extent, so a tile and a whole-raster warp differ by up to ~0.7
# on this signal (slope ~28 per satellite pixel): 1.0 still catches a shift of 0.04 pixel.
@pytest.mark.parametrize("case,tolerance", [("shifted", 0.05), ("other_crs", 1.0),
                                            ("rotated", 1.0)])
def test_unaligned_inputs_are_warped_per_tile_like_a_whole_warp(tmp_path, aerial, case,
                                                                 tolerance):
    if case == "shifted":  # a third of a satellite pixel off the ratio grid
        path = satellite(tmp_path, (ORIGIN[0] - 8 + 4 / 3, 4.0, 0, ORIGIN[1] + 12 - 1.1, 0, -4.0))
    elif case == "other_crs":  # the same place in UTM 32N
        source = osr.SpatialReference()
        source.ImportFromEPSG(32633)
        target = osr.SpatialReference()
        target.ImportFromEPSG(32632)
        for s in (source, target):
            s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        x, y, _ = osr.CoordinateTransformation(source, target).TransformPoint(ORIGIN[0] - 20,
                                                                               ORIGIN[1] + 20)
        path = satellite(tmp_path, (x, 4.0, 0, y, 0, -4.0), epsg=32632, rows=70, cols=80)
    else:  # a rotated geotransform (5 degrees)
        angle = np.radians(5)
        path = satellite(tmp_path, (ORIGIN[0] - 30, 4 * np.cos(angle), -4 * np.sin(angle),
                                    ORIGIN[1] + 10, -4 * np.sin(angle), -4 * np.cos(angle)),
                         rows=70, cols=80)
    sources = open_sources(card(), {"aerial": str(aerial), "satellite": str(path)})
    assert not sources["satellite"].aligned
    reference = warp_reference(path, aerial)
    for (col, row, w, h), block in zip(WINDOWS, tile_reads(sources, WINDOWS)):
        if col < 0:
            continue  # the whole-warp reference has no pixels left of the origin
        expected = reference[:, row:row + h, col:col + w]
        both = block.valid & np.isfinite(expected).all(axis=0)
        assert both.mean() > 0.9
        np.testing.assert_allclose(block.values[:, both], expected[:, both], atol=tolerance)


def test_partial_overlap_is_warned_and_uncovered_pixels_are_nodata(tmp_path, aerial):
    # The satellite covers only the left half of the aerial (columns 0..99).
    path = satellite(tmp_path, (ORIGIN[0], 4.0, 0, ORIGIN[1], 0, -4.0), rows=40, cols=25)
    wa, wb, bias = two_input_onnx(tmp_path / "m.onnx", 3, 2, RATIO, 3)
    warnings = []
    run(card(), onnx_predictor(tmp_path / "m.onnx"), {"aerial": str(aerial), "satellite": str(path)},
        [Destination(str(tmp_path / "c.tif"))], callbacks=Callbacks(warn=warnings.append))
    assert any("covers only 50%" in w for w in warnings)
    classes = read(tmp_path / "c.tif")[0]
    assert (classes[:, 100:] == 255).all() and (classes[:, :100] != 255).all()


def test_no_overlap_names_both_extents(tmp_path, aerial):
    path = satellite(tmp_path, (ORIGIN[0] + 5000, 4.0, 0, ORIGIN[1], 0, -4.0))
    with pytest.raises(UserError, match=r"do not overlap \(extents \(505000, 5299808, 505240, 5300000\)"):
        open_sources(card(), {"aerial": str(aerial), "satellite": str(path)})


def test_missing_second_input_and_one_crs_missing_are_refused(tmp_path, aerial):
    with pytest.raises(UserError, match="needs the input 'satellite'"):
        open_sources(card(), {"aerial": str(aerial)})
    path = satellite(tmp_path, (ORIGIN[0], 4.0, 0, ORIGIN[1], 0, -4.0), epsg=None)
    with pytest.raises(UserError, match="only one of .* has a CRS"):
        open_sources(card(), {"aerial": str(aerial), "satellite": str(path)})


def test_two_input_model_tiled_equals_the_model_on_whole_aligned_arrays(tmp_path, aerial):
    path = satellite(tmp_path, (ORIGIN[0], 4.0, 0, ORIGIN[1], 0, -4.0), rows=40, cols=50)
    wa, wb, bias = two_input_onnx(tmp_path / "m.onnx", 3, 2, RATIO, 3)
    run(card(tile=64, overlap=16), onnx_predictor(tmp_path / "m.onnx"),
        {"aerial": str(aerial), "satellite": str(path)},
        [Destination(str(tmp_path / "c.tif")),
         Destination(str(tmp_path / "p.tif"), what="probabilities")],
        RunOptions(batch_size=2))
    a, s = read(aerial)[0].astype(np.float32), read(path)[0].astype(np.float32)
    up = np.repeat(np.repeat(np.einsum("kc,chw->khw", wb, s), RATIO, 1), RATIO, 2)
    expected = softmax((np.einsum("kc,chw->khw", wa, a) + up + bias[:, None, None])[None])[0]
    probabilities, out = read(tmp_path / "p.tif")
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert out.GetGeoTransform() == gdal.Open(str(aerial)).GetGeoTransform()
