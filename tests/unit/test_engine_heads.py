"""The engine's heads (patch, pixel table), exact blending, the fit hook and the dB transform,
each checked against the same model applied directly with numpy."""

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.cards import card_from_dict
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.runtime.backends import Predictor, onnx_predictor
from rsai_toolbox.models.runtime.engine import Destination, RunOptions, run

from helpers import conv_onnx, linear_table_onnx, read, window_mean_onnx, write_geotiff

GT = (300000.0, 10.0, 0.0, 7000000.0, 0.0, -10.0)


def patch_card(window=50, stride=50, task="regression"):
    outputs = ({"targets": [{"name": "HH mean"}, {"name": "HV mean"}]} if task == "regression"
               else {"classes": [{"value": 0, "name": "HH wins"}, {"value": 1, "name": "HV wins"}],
                     "activation": "none"})
    return card_from_dict({"id": "patch", "task": task, "format": "onnx",
                           "inputs": [{"name": "sar", "bands": ["HH", "HV"]}],
                           "head": {"type": "patch", "window": window, "stride": stride},
                           "outputs": outputs})


@pytest.fixture
def sar(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.normal(0, 1, (2, 180, 230)).astype(np.float32)
    image[:, 100:120, 30:40] = np.nan  # a hole: windows over it see fewer valid pixels
    return write_geotiff(tmp_path / "sar.tif", image, GT, nodata=float("nan")), image


def window_means(image, window, stride):
    rows, cols = (image.shape[1] - window) // stride + 1, (image.shape[2] - window) // stride + 1
    means = np.empty((2, rows, cols))
    valid = np.empty((rows, cols), bool)
    for j in range(rows):
        for i in range(cols):
            patch = image[:, j * stride:j * stride + window, i * stride:i * stride + window]
            finite = np.isfinite(patch).all(axis=0)
            valid[j, i] = finite.mean() >= 0.5
            filled = np.where(finite, patch, np.nanmean(patch, axis=(1, 2), keepdims=True))
            means[:, j, i] = filled.mean(axis=(1, 2))
    return means, valid


@pytest.mark.parametrize("stride", [50, 25, 20])
def test_patch_head_writes_each_window_answer_on_both_grids(tmp_path, sar, stride):
    path, image = sar
    window_mean_onnx(tmp_path / "m.onnx", 2)
    run(patch_card(stride=stride), onnx_predictor(tmp_path / "m.onnx"), {"sar": str(path)},
        [Destination(str(tmp_path / "windows.tif"), grid="windows"),
         Destination(str(tmp_path / "pixels.tif"))], RunOptions(stride=stride, batch_size=1))
    means, valid = window_means(image, 50, stride)
    coarse, coarse_ds = read(tmp_path / "windows.tif")
    np.testing.assert_allclose(coarse[:, valid], means[:, valid], atol=1e-5)
    assert (coarse[:, ~valid] == -9999).all()
    # The coarse grid: one cell per window, centred on the window's centre.
    shift = (50 - stride) / 2 * 10
    assert coarse_ds.GetGeoTransform() == pytest.approx(
        (GT[0] + shift, 10.0 * stride, 0, GT[3] - shift, 0, -10.0 * stride))
    # Expanded: every pixel takes the window whose centre is nearest.
    pixels, pixel_ds = read(tmp_path / "pixels.tif")
    assert pixel_ds.GetGeoTransform() == GT
    rows, cols = valid.shape
    for y, x in [(0, 0), (24, 24), (25, 26), (49, 51), (77, 141), (170, 200), (130, 226)]:
        j = min(rows - 1, max(0, int(np.floor((y + 0.5 - (50 - stride) / 2) / stride))))
        i = min(cols - 1, max(0, int(np.floor((x + 0.5 - (50 - stride) / 2) / stride))))
        inside = y < (rows - 1) * stride + 50 and x < (cols - 1) * stride + 50
        if inside and valid[j, i] and np.isfinite(image[:, y, x]).all():
            np.testing.assert_allclose(pixels[:, y, x], means[:, j, i], atol=1e-5)
        else:
            assert (pixels[:, y, x] == -9999).all()
    assert (pixels[:, 110, 35] == -9999).all()  # a nodata pixel stays nodata


def test_patch_classes_and_window_sink(tmp_path, sar):
    path, image = sar
    window_mean_onnx(tmp_path / "m.onnx", 2)
    batches = []
    run(patch_card(task="segmentation"), onnx_predictor(tmp_path / "m.onnx"), {"sar": str(path)},
        [Destination(str(tmp_path / "classes.tif"), grid="windows")], window_sink=batches.append)
    means, valid = window_means(image, 50, 50)
    classes, ds = read(tmp_path / "classes.tif")
    np.testing.assert_array_equal(classes[valid], np.argmax(means, axis=0)[valid])
    band = ds.GetRasterBand(1)
    assert band.GetDescription() == "output"  # also loads the .aux.xml (GDAL reads it lazily)
    assert band.GetCategoryNames()[:2] == ["HH wins", "HV wins"]
    footprints = np.concatenate([b.footprints for b in batches])
    assert len(footprints) == valid.size and footprints[0].tolist() == [0, 0, 50, 50]
    assert footprints[-1].tolist() == [150, 100, 200, 150]
    np.testing.assert_allclose(np.concatenate([b.outputs["output"] for b in batches]),
                               means.reshape(2, -1).T, atol=1e-5)


def test_patch_window_larger_than_raster_or_stride_larger_than_window(tmp_path):
    path = write_geotiff(tmp_path / "small.tif", np.ones((2, 40, 60), np.float32), GT)
    window_mean_onnx(tmp_path / "m.onnx", 2)
    with pytest.raises(UserError, match=r"smaller than the model's window of 50 x 50"):
        run(patch_card(), onnx_predictor(tmp_path / "m.onnx"), {"sar": str(path)},
            [Destination(str(tmp_path / "o.tif"))])
    big = write_geotiff(tmp_path / "big.tif", np.ones((2, 100, 100), np.float32), GT)
    with pytest.raises(UserError, match=r"STRIDE \(60\) is larger than the model's window"):
        run(patch_card(), onnx_predictor(tmp_path / "m.onnx"), {"sar": str(big)},
            [Destination(str(tmp_path / "o.tif"))], RunOptions(stride=60))
    assert not (tmp_path / "o.tif").exists()


def table_card(extra_input=False, transform="linear"):
    inputs = [{"name": "values", "bands": ["b1", "b2", "b3"], "transform": transform}]
    if extra_input:
        inputs.append({"name": "sigma", "bands": ["s1", "s2"]})
    return card_from_dict({"id": "table", "task": "regression", "format": "onnx",
                           "inputs": inputs, "head": {"type": "pixel_table"},
                           "tiling": {"tile_size": 64, "overlap": 0},
                           "outputs": {"targets": [{"name": "pH", "unit": "pH"},
                                                   {"name": "SOC", "unit": "%"}]}})


def test_pixel_table_equals_numpy_and_keeps_nodata(tmp_path):
    rng = np.random.default_rng(5)
    values = rng.uniform(0, 100, (3, 130, 90)).astype(np.float32)
    values[:, 10:20, 5:15] = -1
    sigma = rng.uniform(0, 2, (2, 130, 90)).astype(np.float32)
    vpath = write_geotiff(tmp_path / "v.tif", values, GT, nodata=-1)
    spath = write_geotiff(tmp_path / "s.tif", sigma, GT)
    w, b = linear_table_onnx(tmp_path / "m.onnx", 5, 2)
    run(table_card(extra_input=True), onnx_predictor(tmp_path / "m.onnx"),
        {"values": str(vpath), "sigma": str(spath)}, [Destination(str(tmp_path / "o.tif"))])
    out, ds = read(tmp_path / "o.tif")
    features = np.concatenate([values, sigma]).reshape(5, -1).T
    expected = (features @ w + b).T.reshape(2, 130, 90)
    valid = values[0] != -1
    np.testing.assert_allclose(out[:, valid], expected[:, valid], rtol=1e-5, atol=1e-3)
    assert (out[:, ~valid] == -9999).all()
    assert ds.GetRasterBand(1).GetDescription() == "pH (pH)"
    assert ds.GetRasterBand(2).GetDescription() == "SOC (%)"


def test_db_transform_and_features_hook(tmp_path):
    linear = np.array([[[0.1, 0.01, 0.0], [1.0, -0.5, 0.001]]] * 3, np.float32)
    path = write_geotiff(tmp_path / "lin.tif", linear, GT)
    identity = Predictor(lambda inputs: {"output": inputs["features"][:, :2].copy()}, "numpy")
    seen = []

    def features(blocks):
        seen.append(blocks["values"].shape)
        return blocks["values"]

    run(table_card(transform="db"), identity, {"values": str(path)},
        [Destination(str(tmp_path / "o.tif"))], features=features)
    out = read(tmp_path / "o.tif")[0]
    expected = 10 * np.log10(np.where(linear[0] > 0, linear[0], np.nan))
    positive = linear[0] > 0
    np.testing.assert_allclose(out[0][positive], expected[positive], rtol=1e-6)
    assert (out[0][~positive] == -9999).all()  # zero and negative backscatter: nodata
    assert seen == [(3, 2, 3)]


def test_crop_blend_makes_tiled_equal_untiled_for_a_model_with_context(tmp_path, shared_data):
    conv_onnx(tmp_path / "m.onnx", 8, 3, kernel=5, seed=4)  # context: 2 pixels
    farmland = str(shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif")

    def seg(tile, overlap):
        return card_from_dict({"id": "crop", "task": "regression", "format": "onnx",
                               "inputs": {"bands": [str(i) for i in range(8)], "scale": 3000},
                               "tiling": {"tile_size": tile, "overlap": overlap, "blend": "crop"},
                               "outputs": {"targets": [{"name": "a"}, {"name": "b"},
                                                       {"name": "c"}]}})
    predictor = onnx_predictor(tmp_path / "m.onnx")
    run(seg(640, 0), predictor, {"input": farmland}, [Destination(str(tmp_path / "a.tif"))])
    run(seg(96, 8), predictor, {"input": farmland}, [Destination(str(tmp_path / "b.tif"))])
    np.testing.assert_allclose(read(tmp_path / "a.tif")[0], read(tmp_path / "b.tif")[0],
                               rtol=1e-5, atol=1e-4)


def test_fit_hook_sees_an_overview_with_the_ratio_kept(tmp_path):
    primary = write_geotiff(tmp_path / "p.tif", np.arange(120 * 80, dtype=np.float32)
                            .reshape(1, 80, 120), GT)
    coarse = write_geotiff(tmp_path / "c.tif", np.ones((2, 20, 30), np.float32),
                           (GT[0], 40.0, 0, GT[3], 0, -40.0))
    card = card_from_dict({"id": "fit", "task": "regression", "format": "onnx",
                           "inputs": [{"name": "pan", "bands": ["p"]},
                                      {"name": "ms", "bands": ["a", "b"], "ratio": 4}],
                           "tiling": {"tile_size": 32, "overlap": 8, "blend": "crop"},
                           "outputs": {"targets": [{"name": "a"}, {"name": "b"}]}})
    fitted = {}

    def fit(sample):
        overview = sample.overview(max_pixels=600)
        fitted["shapes"] = {k: v.values.shape for k, v in overview.items()}
        fitted["pan"] = overview["pan"].values
        fitted["tiles"] = sum(1 for _ in sample.tiles())

    def model(inputs):
        return {"output": np.repeat(np.repeat(inputs["ms"], 4, 2), 4, 3) * fitted["tiles"]}

    run(card, Predictor(model, "numpy", fit=fit), {"pan": str(primary), "ms": str(coarse)},
        [Destination(str(tmp_path / "o.tif"))])
    assert fitted["shapes"] == {"pan": (1, 20, 32), "ms": (2, 5, 8)}
    # Averages of 4 x 4 blocks of the primary (factor 4 brings 9600 pixels under 600).
    expected = np.arange(120 * 80, dtype=np.float64).reshape(80, 120)[:80, :120]
    expected = expected.reshape(20, 4, 30, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(fitted["pan"][0, :20, :30], expected)
    assert (read(tmp_path / "o.tif")[0] == fitted["tiles"]).all()


def test_fixed_size_model_and_huge_tile_size(tmp_path, shared_data):
    farmland = str(shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif")
    import torch
    net = torch.nn.Conv2d(8, 2, 1)
    torch.onnx.export(net, torch.zeros(1, 8, 64, 64), str(tmp_path / "fixed.onnx"),
                      input_names=["input"], output_names=["output"], dynamo=False)
    card = card_from_dict({"id": "fixed", "task": "regression", "format": "onnx",
                           "inputs": {"bands": [str(i) for i in range(8)]},
                           "tiling": {"tile_size": 64, "overlap": 8},
                           "outputs": {"targets": [{"name": "a"}, {"name": "b"}]}})
    with pytest.raises(UserError, match=r"only takes tiles of 64 x 64 pixels; set TILE_SIZE to 64"):
        run(card, onnx_predictor(tmp_path / "fixed.onnx"), {"input": farmland},
            [Destination(str(tmp_path / "o.tif"))], RunOptions(tile_size=128))
    conv_onnx(tmp_path / "m.onnx", 8, 2)
    result = run(card, onnx_predictor(tmp_path / "m.onnx"), {"input": farmland},
                 [Destination(str(tmp_path / "o.tif"))], RunOptions(tile_size=200000))
    assert result.tiles == 1  # clamped to the raster, not a 200000 x 200000 tile


def test_output_equal_to_another_output_is_refused(tmp_path, sar):
    path, _ = sar
    window_mean_onnx(tmp_path / "m.onnx", 2)
    with pytest.raises(UserError, match="two outputs are the same file"):
        run(patch_card(), onnx_predictor(tmp_path / "m.onnx"), {"sar": str(path)},
            [Destination(str(tmp_path / "o.tif")), Destination(str(tmp_path / "o.tif"),
                                                                grid="windows")])


def test_multi_output_dense_card_writes_only_the_outputs_asked_for(tmp_path, sar):
    """A three-output model (sea-ice U-Net: SOD, SIC, FLOE) with only two of them written."""
    path, image = sar
    card = card_from_dict({"id": "multi", "task": "segmentation", "format": "onnx",
                           "inputs": [{"name": "sar", "bands": ["HH", "HV"]}],
                           "tiling": {"tile_size": 64, "overlap": 0},
                           "outputs": [{"name": n, "classes": [{"value": 0, "name": "a"},
                                                               {"value": 1, "name": "b"}]}
                                       for n in ("SOD", "SIC", "FLOE")]})

    def model(inputs):
        x = inputs["sar"]
        return {"SOD": x, "SIC": -x, "FLOE": x[:, ::-1]}

    run(card, Predictor(model, "numpy"), {"sar": str(path)},
        [Destination(str(tmp_path / "sod.tif"), "SOD"),
         Destination(str(tmp_path / "sic.tif"), "SIC")])
    finite = np.isfinite(image).all(axis=0)
    sod, sic = read(tmp_path / "sod.tif")[0], read(tmp_path / "sic.tif")[0]
    assert (sod[finite] == (image[1] > image[0])[finite]).all()
    assert (sic[finite] == (image[1] < image[0])[finite]).all()
    assert (sod[~finite] == 255).all() and not (tmp_path / "floe.tif").exists()
