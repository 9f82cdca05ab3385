"""The tiled engine on real Sentinel-2 rasters with small real ONNX models."""

import json

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.cards import card_from_dict
from rsai_toolbox.models.errors import Cancelled, UserError
from rsai_toolbox.models.registry import onnx_card
from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.runtime.backends import onnx_predictor
from rsai_toolbox.models.runtime.engine import Destination, RunOptions, run, softmax

from helpers import apply_pointwise, conv_onnx, landcover_geotiff, read, write_geotiff

CLASSES = [{"value": 0, "name": "water", "color": "#0000ff"},
           {"value": 1, "name": "forest", "color": "#00aa00"},
           {"value": 2, "name": "crops", "color": "#ffcc00"}]


def run_on_raster(path, card, predictor, output, probabilities=None, options=None,
                  callbacks=Callbacks()):
    """One input, the classes (or values) and optionally the probabilities."""
    destinations = [Destination(str(output))]
    if probabilities:
        destinations.append(Destination(str(probabilities), what="probabilities"))
    return run(card, predictor, {card.primary.name: str(path)}, destinations, options,
               callbacks)


@pytest.fixture
def farmland(shared_data):
    return str(shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif")


def seg_card(bands, tile=128, overlap=16, scale=3000.0, mean=None, std=None):
    return card_from_dict({"id": "test-seg", "task": "segmentation", "format": "onnx",
                           "inputs": {"bands": bands, "scale": scale, "mean": mean, "std": std,
                                      "tile_size": tile, "overlap": overlap},
                           "outputs": {"classes": CLASSES}})


def test_classes_and_probabilities_match_the_model_applied_directly(tmp_path, farmland):
    weight, bias = conv_onnx(tmp_path / "m.onnx", 8, 3)
    card = seg_card([f"b{i}" for i in range(8)], mean=[0.1] * 8, std=[0.5] * 8)
    run_on_raster(farmland, card, onnx_predictor(tmp_path / "m.onnx"), str(tmp_path / "c.tif"),
                  str(tmp_path / "p.tif"), RunOptions(batch_size=3))

    image, source = read(farmland)
    expected = softmax(apply_pointwise(weight, bias, (image / 3000.0 - 0.1) / 0.5)[None])[0]
    probabilities, _ = read(tmp_path / "p.tif")
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    classes, out = read(tmp_path / "c.tif")
    agree = classes == np.argmax(expected, axis=0)
    assert agree.mean() > 0.9999  # only exact ties between classes may differ
    assert out.GetGeoTransform() == source.GetGeoTransform()
    assert out.GetProjection() == source.GetProjection()
    band = out.GetRasterBand(1)
    assert band.GetNoDataValue() == 255
    assert band.GetCategoryNames()[:3] == ["water", "forest", "crops"]
    assert band.GetColorTable().GetColorEntry(2)[:3] == (255, 204, 0)
    assert out.GetRasterBand(1).GetBlockSize() == [256, 256]
    assert out.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    probability_ds = gdal.Open(str(tmp_path / "p.tif"))
    assert [probability_ds.GetRasterBand(i + 1).GetDescription()
            for i in range(3)] == ["P(water)", "P(forest)", "P(crops)"]


def test_tiled_run_equals_untiled_run_for_a_3x3_network(tmp_path, farmland):
    conv_onnx(tmp_path / "m.onnx", 8, 3, kernel=3, seed=2)
    predictor = onnx_predictor(tmp_path / "m.onnx")
    whole = seg_card([f"b{i}" for i in range(8)], tile=640, overlap=0)
    tiled = seg_card([f"b{i}" for i in range(8)], tile=96, overlap=8)
    run_on_raster(farmland, whole, predictor, str(tmp_path / "a.tif"), str(tmp_path / "pa.tif"))
    run_on_raster(farmland, tiled, predictor, str(tmp_path / "b.tif"), str(tmp_path / "pb.tif"))
    a, b = read(tmp_path / "pa.tif")[0], read(tmp_path / "pb.tif")[0]
    # A 3x3 kernel sees zero padding only on a tile's outermost pixels, which the blend weighs
    # 1/(2*overlap) per direction: everywhere else the two runs agree exactly.
    edge = np.zeros(a.shape[1:], bool)
    for start in range(0, max(a.shape), 88):
        edge[start:start + 1], edge[start + 95:start + 96] = True, True
        edge[:, start:start + 1], edge[:, start + 95:start + 96] = True, True
    diff = np.abs(a - b)
    np.testing.assert_allclose(a[:, ~edge], b[:, ~edge], atol=1e-5)
    assert diff[:, 1:-1, 1:-1].max() <= 2 / 16
    assert np.mean(read(tmp_path / "a.tif")[0] == read(tmp_path / "b.tif")[0]) > 0.995


def test_regression_output_has_units_and_nodata(tmp_path, shared_data):
    tif = landcover_geotiff(shared_data, tmp_path / "lc.tif")
    ds = gdal.Open(str(tif), gdal.GA_Update)
    band = ds.GetRasterBand(1)
    data = band.ReadAsArray()
    data[10:20, 10:20] = -1
    band.WriteArray(data)
    for i in range(13):
        ds.GetRasterBand(i + 1).SetNoDataValue(-1)
    ds = None
    weight, bias = conv_onnx(tmp_path / "r.onnx", 13, 2)
    card = card_from_dict({"id": "r", "task": "regression", "format": "onnx",
                           "inputs": {"bands": [str(i) for i in range(13)], "tile_size": 64,
                                      "overlap": 8},
                           "outputs": {"targets": [{"name": "SOC", "unit": "%"},
                                                   {"name": "pH"}]}})
    run_on_raster(str(tif), card, onnx_predictor(tmp_path / "r.onnx"), str(tmp_path / "v.tif"))
    values, out = read(tmp_path / "v.tif")
    image = read(tif)[0]
    expected = apply_pointwise(weight, bias, image)
    valid = np.ones(image.shape[1:], bool)
    valid[10:20, 10:20] = False
    np.testing.assert_allclose(values[:, valid], expected[:, valid], atol=1e-4)
    assert (values[:, ~valid] == -9999).all()
    assert out.GetRasterBand(1).GetDescription() == "SOC (%)"
    assert out.GetRasterBand(2).GetDescription() == "pH"
    assert out.GetRasterBand(1).DataType == gdal.GDT_Float32


def test_wrong_band_count_names_both_counts(tmp_path, farmland):
    conv_onnx(tmp_path / "m.onnx", 4, 3)
    card = seg_card(["B4", "B3", "B2", "B8"])
    with pytest.raises(UserError, match=r"expects 4 bands \(B4, B3, B2, B8\) but the raster has 8"):
        run_on_raster(farmland, card, onnx_predictor(tmp_path / "m.onnx"), str(tmp_path / "o.tif"))
    run_on_raster(farmland, card, onnx_predictor(tmp_path / "m.onnx"), str(tmp_path / "o.tif"),
                  options=RunOptions(bands={"input": [5, 6, 7, 8]}))
    assert (tmp_path / "o.tif").exists()


def test_output_over_input_is_refused_and_input_untouched(tmp_path, farmland):
    copy = tmp_path / "in.tif"
    copy.write_bytes(open(farmland, "rb").read())
    before = copy.read_bytes()
    conv_onnx(tmp_path / "m.onnx", 8, 3)
    with pytest.raises(UserError, match="same file as an input"):
        run_on_raster(str(copy), seg_card(list("abcdefgh")), onnx_predictor(tmp_path / "m.onnx"),
                      str(copy))
    assert copy.read_bytes() == before


def test_cancel_leaves_no_output(tmp_path, farmland):
    conv_onnx(tmp_path / "m.onnx", 8, 3)
    calls = []

    def cancel_on_third_check():
        calls.append(1)
        return len(calls) >= 3

    with pytest.raises(Cancelled):
        run_on_raster(farmland, seg_card(list("abcdefgh"), tile=64, overlap=8),
                      onnx_predictor(tmp_path / "m.onnx"), str(tmp_path / "o.tif"),
                      str(tmp_path / "p.tif"),
                      callbacks=Callbacks(is_cancelled=cancel_on_third_check))
    assert list(tmp_path.iterdir()) == [tmp_path / "m.onnx"]


def test_all_nodata_and_missing_crs_warn_but_run(tmp_path):
    array = np.zeros((8, 40, 50), np.uint16)
    tif = write_geotiff(tmp_path / "empty.tif", array, (0, 10, 0, 0, 0, -10), epsg=None, nodata=0)
    conv_onnx(tmp_path / "m.onnx", 8, 3)
    warnings = []
    report = run_on_raster(str(tif), seg_card(list("abcdefgh"), tile=32, overlap=4),
                           onnx_predictor(tmp_path / "m.onnx"), str(tmp_path / "o.tif"),
                           callbacks=Callbacks(warn=warnings.append))
    assert report.valid_pixels == 0
    assert any("no CRS" in w for w in warnings)
    assert any("every pixel" in w and "nodata" in w for w in warnings)
    assert (read(tmp_path / "o.tif")[0] == 255).all()


def test_onnx_metadata_describes_a_bare_model(tmp_path):
    card = {"id": "meta-card", "task": "segmentation", "format": "onnx",
            "inputs": {"bands": ["R", "G", "B"], "scale": 255, "tile_size": 256, "overlap": 16},
            "outputs": {"classes": CLASSES}, "licence": "MIT"}
    conv_onnx(tmp_path / "ours.onnx", 3, 3, metadata={"rsai_card": json.dumps(card)})
    assert onnx_card(tmp_path / "ours.onnx").primary.bands == ("R", "G", "B")

    conv_onnx(tmp_path / "deepness.onnx", 3, 2, metadata={
        "model_type": "Segmentor", "class_names": {"0": "background", "1": "building"},
        "resolution": 50, "tiles_size": 512, "tiles_overlap": 15,
        "standardization_mean": [0.5, 0.5, 0.5], "standardization_std": [0.2, 0.2, 0.2]})
    deepness = onnx_card(tmp_path / "deepness.onnx")
    assert [c.name for c in deepness.classes] == ["background", "building"]
    assert deepness.primary.scale == 255 and deepness.primary.mean == (0.5, 0.5, 0.5)
    assert deepness.primary.resolution_m == 0.5 and deepness.tiling.overlap == 76
    assert deepness.output.activation == "none"
