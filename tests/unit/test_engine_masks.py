"""Alpha and mask bands: a mask of the other bands (nodata where 0), never a data band."""
import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.cards import card_from_dict
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.runtime.backends import onnx_predictor
from rsai_toolbox.models.runtime.engine import Destination, run, softmax
from rsai_toolbox.models.runtime.sources import open_sources

from helpers import conv_onnx, read, write_geotiff

GT = (500000.0, 1.0, 0.0, 5300000.0, 0.0, -1.0)


def rgba(path, rows=60, cols=80, seed=0):
    """An RGB raster with an alpha band that hides the top 10 rows and a square hole."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (3, rows, cols)).astype(np.uint8)
    alpha = np.full((rows, cols), 255, np.uint8)
    alpha[:10] = 0
    alpha[30:40, 20:30] = 0
    write_geotiff(path, np.concatenate([rgb, alpha[None]]), GT)
    ds = gdal.Open(str(path), gdal.GA_Update)
    ds.GetRasterBand(4).SetColorInterpretation(gdal.GCI_AlphaBand)
    ds = None
    return rgb, alpha > 0


def card(inputs):
    return card_from_dict({"id": "masks", "task": "segmentation", "format": "onnx",
                           "inputs": inputs, "tiling": {"tile_size": 32, "overlap": 8},
                           "outputs": {"classes": [{"value": 0, "name": "a"},
                                                   {"value": 1, "name": "b"}]}})


def test_alpha_is_nodata_in_every_output_and_not_a_band(tmp_path):
    rgb, visible = rgba(tmp_path / "rgba.tif")
    weight, bias = conv_onnx(tmp_path / "m.onnx", 3, 2)
    single = card({"bands": ["r", "g", "b"], "scale": 255})
    run(single, onnx_predictor(tmp_path / "m.onnx", "cpu"), {"input": str(tmp_path / "rgba.tif")},
        [Destination(str(tmp_path / "c.tif")),
         Destination(str(tmp_path / "p.tif"), what="probabilities")])
    classes, probabilities = read(tmp_path / "c.tif")[0], read(tmp_path / "p.tif")[0]
    assert (classes[~visible] == 255).all() and (classes[visible] <= 1).all()
    assert (probabilities[:, ~visible] == -9999).all()
    expected = softmax(np.einsum("kc,chw->khw", weight[:, :, 0, 0], rgb / 255.0)[None]
                       + bias[None, :, None, None])[0]
    np.testing.assert_allclose(probabilities[:, visible], expected[:, visible], atol=1e-5)


@pytest.mark.parametrize("geotransform", [GT, (500000.5, 2.0, 0, 5300000.0, 0, -2.0)],
                         ids=["window read", "warped"])
def test_a_second_input_with_alpha_is_masked_both_ways(tmp_path, geotransform):
    write_geotiff(tmp_path / "aerial.tif", np.ones((3, 60, 80), np.uint8), GT)
    _, visible = rgba(tmp_path / "sat.tif")
    ds = gdal.Open(str(tmp_path / "sat.tif"), gdal.GA_Update)
    ds.SetGeoTransform(geotransform)
    ds = None
    ratio = 1 if geotransform == GT else 2
    two = card([{"name": "aerial", "bands": ["r", "g", "b"]},
                {"name": "satellite", "bands": ["x", "y", "z"], "ratio": ratio}])
    sources = open_sources(two, {"aerial": str(tmp_path / "aerial.tif"),
                                 "satellite": str(tmp_path / "sat.tif")})
    satellite = sources["satellite"]
    assert satellite.bands == [1, 2, 3] and satellite.aligned is (ratio == 1)
    block = satellite.read(0, 0, 80, 60)
    if ratio == 1:
        np.testing.assert_array_equal(block.valid, visible)
    else:  # 2 m model pixels over 2 m satellite pixels a quarter pixel off: edges may move by 1
        inside = block.valid[:, :79]  # the last column lies past the satellite raster
        assert np.mean(inside != visible[:, :79]) < 0.03
        assert not block.valid[:10].any() and not block.valid[31:39, 21:29].any()
        assert block.valid[11:30].all() and block.valid[41:].all()


def test_explicit_bands_may_take_the_alpha_band(tmp_path):
    rgba(tmp_path / "rgba.tif")
    single = card({"bands": ["r", "g", "b"]})
    with pytest.raises(UserError, match="has 3 and 1 alpha band"):
        open_sources(card({"bands": ["r", "g", "b", "a"]}), {"input": str(tmp_path / "rgba.tif")})
    sources = open_sources(single, {"input": str(tmp_path / "rgba.tif")}, {"input": [2, 3, 4]})
    assert sources["input"].bands == [2, 3, 4]
