"""Fusion land cover through the engine: a two-input model of the fusion signature on
synthetic aerial/satellite pairs of known alignment, single-source models, bad input."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import helpers_fusion as hf  # noqa: E402
from helpers import conv_onnx, read, two_input_onnx  # noqa: E402

from rsai_toolbox.models.callbacks import Callbacks  # noqa: E402
from rsai_toolbox.models.cards import load_card  # noqa: E402
from rsai_toolbox.models.errors import UserError  # noqa: E402
from rsai_toolbox.models.fusion.landcover import (acquisition_date,  # noqa: E402
                                                  classify_land_cover)
from rsai_toolbox.models.runtime.backends import onnx_predictor  # noqa: E402
from rsai_toolbox.models.runtime.engine import RunOptions, softmax  # noqa: E402

RATIO, TILE, OVERLAP, SCALE = 40, 160, 40, 1000.0
CLASSES = [{"value": v, "name": n} for v, n in
           enumerate(("background", "building", "woodland", "water", "road"))]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A two-input ONNX (1x1 conv of the aerial + nearest-upsampled 1x1 conv of the satellite)
    and its card; a one-input ONNX and its card."""
    folder = tmp_path_factory.mktemp("model")
    weights = two_input_onnx(folder / "fusion.onnx", 3, 4, RATIO, 5)
    card = {"id": "fusion-test", "task": "segmentation", "format": "onnx",
            "local_weights": "fusion.onnx",
            "inputs": [{"name": "aerial", "bands": list(hf.AERIAL_BANDS), "scale": 255,
                        "resolution_m": 0.25},
                       {"name": "satellite", "bands": list(hf.SATELLITE_BANDS), "scale": SCALE,
                        "ratio": RATIO, "pad": "edge"}],
            "tiling": {"tile_size": TILE, "overlap": OVERLAP},
            "outputs": {"classes": CLASSES}}
    (folder / "fusion.json").write_text(json.dumps(card))
    conv_onnx(folder / "single.onnx", 3, 5)
    single = {**card, "id": "single-test", "local_weights": "single.onnx",
              "inputs": card["inputs"][:1]}
    (folder / "single.json").write_text(json.dumps(single))
    return load_card(folder / "fusion.json"), load_card(folder / "single.json"), weights


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    return {name: make(folder) for name, make in hf.SCENARIOS.items()}


def classify(card, out, pair=None, aerial=None, satellite=None, options=None, **kwargs):
    warnings = kwargs.pop("warnings", [])
    predictor = onnx_predictor(card.local_weights, "cpu")
    classify_land_cover(card, predictor, str(out / "classes.tif"), str(out / "p.tif"),
                        aerial=str(aerial or pair.aerial_path),
                        satellite=satellite if satellite is not None else
                        (str(pair.satellite_path) if pair else None),
                        options=options, callbacks=Callbacks(warn=warnings.append,
                                                             log=lambda m: None), **kwargs)
    return read(out / "classes.tif"), read(out / "p.tif")[0]


def expected_probabilities(pair, weights):
    """The model applied to the whole, pre-aligned arrays: the aerial image and the true
    satellite values of every ratio cell (helpers_fusion), nearest-upsampled."""
    wa, wb, bias = weights
    image = gdal.Open(str(pair.aerial_path)).ReadAsArray() / 255.0
    height, width = image.shape[1:]
    truth = pair.expected(0, 0, width, height, RATIO)
    satellite = np.einsum("kc,chw->khw", wb, truth.values / SCALE)
    up = np.repeat(np.repeat(satellite, RATIO, 1), RATIO, 2)[:, :height, :width]
    logits = np.einsum("kc,chw->khw", wa, image) + up + bias[:, None, None]
    interior = np.repeat(np.repeat(truth.interior, RATIO, 0), RATIO, 1)[:height, :width]
    outside = np.repeat(np.repeat(truth.outside, RATIO, 0), RATIO, 1)[:height, :width]
    return softmax(logits[None].astype(np.float32))[0], interior, outside


@pytest.mark.parametrize("scenario", ["aligned_ratio_40", "shifted_grid", "other_crs",
                                      "satellite_edge", "partial_overlap"])
def test_tool_equals_the_model_on_whole_prealigned_arrays(tmp_path, model, pairs, scenario):
    card, _, weights = model
    pair = pairs[scenario]
    (classes, ds), probabilities = classify(card, tmp_path, pair)
    aerial = gdal.Open(str(pair.aerial_path))
    assert ds.GetGeoTransform() == aerial.GetGeoTransform()
    assert ds.GetProjection() == aerial.GetProjection()
    assert classes.shape == (pair.aerial.height, pair.aerial.width)
    assert ds.GetRasterBand(1).GetNoDataValue() == 255
    want, interior, outside = expected_probabilities(pair, weights)
    np.testing.assert_allclose(probabilities[:, interior], want[:, interior], atol=1e-4)
    decided = interior & (np.sort(want, 0)[-1] - np.sort(want, 0)[-2] > 1e-3)
    np.testing.assert_array_equal(classes[decided], want.argmax(0)[decided])
    assert (classes[outside] == 255).all() and (probabilities[:, outside] == -9999).all()
    assert interior.mean() > 0.3


def test_tiled_equals_untiled(tmp_path, model, pairs):
    card, _, _ = model
    pair = pairs["other_crs"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, tiled = classify(card, tmp_path / "a", pair, options=RunOptions(tile_size=160, overlap=40))
    _, whole = classify(card, tmp_path / "b", pair, options=RunOptions(tile_size=640, overlap=0))
    valid = (tiled != -9999).all(0)
    np.testing.assert_array_equal(valid, (whole != -9999).all(0))
    # per-tile warps extend each tile's kernel to its own extent: 1e-4 of a probability
    np.testing.assert_allclose(tiled[:, valid], whole[:, valid], atol=1e-4)


def test_single_source_models_ignore_a_satellite_and_fusion_models_need_one(tmp_path, model,
                                                                            pairs):
    card, single, _ = model
    pair = pairs["aligned_ratio_40"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    warnings = []
    (with_sat, _), _ = classify(single, tmp_path / "a", pair, warnings=warnings)
    assert any("SATELLITE is ignored" in w for w in warnings)
    (alone, _), _ = classify(single, tmp_path / "b", aerial=pair.aerial_path)
    np.testing.assert_array_equal(with_sat, alone)
    with pytest.raises(UserError, match="give SATELLITE, or choose a single-source model"):
        classify(card, tmp_path, aerial=pair.aerial_path)


def test_satellite_bands_are_found_in_any_order(tmp_path, model, pairs):
    card, _, _ = model
    pair = pairs["other_crs"]
    field = gdal.Open(str(pair.satellite_path)).ReadAsArray()
    shuffled = hf.write_raster(tmp_path / "shuffled.tif", pair.satellite, field[[3, 2, 0, 1]],
                               ("nir", "B4", "B02", "B03"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, ordered = classify(card, tmp_path / "a", pair)
    _, reordered = classify(card, tmp_path / "b", pair, satellite=str(shuffled))
    np.testing.assert_array_equal(ordered, reordered)
    missing = hf.write_raster(tmp_path / "missing.tif", pair.satellite, field,
                              ("B02", "B03", "B04", "B05"))
    with pytest.raises(UserError, match="B08.*SATELLITE_BANDS"):
        classify(card, tmp_path, pair, satellite=str(missing))
    # band numbers override the descriptions
    (tmp_path / "c").mkdir()
    _, chosen = classify(card, tmp_path / "c", pair, satellite=str(missing),
                         satellite_bands=[1, 2, 3, 3])
    assert not np.array_equal(chosen, ordered)


def test_an_rgbn_aerial_gives_its_rgb_bands_to_an_rgb_model(tmp_path, model, pairs):
    _, single, _ = model
    pair = pairs["aligned_ratio_40"]
    rgb = gdal.Open(str(pair.aerial_path)).ReadAsArray()
    nir = np.full((1, *rgb.shape[1:]), 200, np.uint8)
    rgbn = hf.write_raster(tmp_path / "rgbn.tif", pair.aerial, np.concatenate([rgb, nir]),
                           ("red", "green", "blue", "nir"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (with_nir, _), _ = classify(single, tmp_path / "a", aerial=rgbn)
    (plain, _), _ = classify(single, tmp_path / "b", aerial=pair.aerial_path)
    np.testing.assert_array_equal(with_nir, plain)
    grey = hf.write_raster(tmp_path / "grey.tif", pair.aerial, rgb[:1])
    with pytest.raises(UserError, match="has 1 image band.*needs 3"):
        classify(single, tmp_path, aerial=grey)


def test_a_satellite_coarser_than_the_model_allows_is_refused(tmp_path, model):
    card, _, _ = model
    aerial = hf._aerial()
    coarse = hf._satellite_over(aerial, pixel=20.0)
    pair = hf.write_pair(tmp_path, "coarse", aerial, coarse)
    with pytest.raises(UserError, match="20 m pixels, coarser than the model allows.*10 m"):
        classify(card, tmp_path, pair)
    assert not (tmp_path / "classes.tif").exists()


def test_a_very_different_aerial_resolution_is_warned_about(tmp_path, model):
    card, _, _ = model
    aerial = hf._aerial(160, pixel=1.0)  # 1 m pixels for a model trained at 25 cm
    pair = hf.write_pair(tmp_path, "metre", aerial, hf._satellite_over(aerial, pixel=40.0))
    warnings = []
    classify(card, tmp_path, pair, warnings=warnings)
    assert any("1 m pixels but the model was trained at 0.25 m" in w for w in warnings)


def test_acquisition_dates_far_apart_are_warned_about(tmp_path, model, pairs):
    card, _, _ = model
    pair = pairs["aligned_ratio_40"]
    aerial = hf.write_raster(tmp_path / "a.tif", pair.aerial, hf.aerial_image(pair.aerial),
                             hf.AERIAL_BANDS)
    satellite = hf.write_raster(tmp_path / "s.tif", pair.satellite,
                                hf.satellite_field(pair.satellite), hf.SATELLITE_BANDS)
    for path, key, value in ((aerial, "ACQUISITIONDATETIME", "2018-06-12T10:00:00Z"),
                             (satellite, "DATATAKE_1_DATATAKE_SENSING_START",
                              "2021-07-01T09:50:31.024Z")):
        ds = gdal.Open(str(path), gdal.GA_Update)
        ds.SetMetadataItem(key, value, "IMAGERY" if key.startswith("ACQ") else "")
        ds = None
    assert str(acquisition_date(gdal.Open(str(satellite)))) == "2021-07-01"
    warnings = []
    classify(card, tmp_path, aerial=aerial, satellite=str(satellite), warnings=warnings)
    assert any("3.1 years apart" in w for w in warnings)
    (tmp_path / "b").mkdir()
    warnings.clear()
    classify(card, tmp_path / "b", pair, warnings=warnings)  # no dates: nothing to say
    assert not any("apart" in w for w in warnings)


def test_no_overlap_leaves_no_output_and_the_inputs_untouched(tmp_path, model, pairs):
    card, _, _ = model
    pair = pairs["no_overlap"]
    before = [p.read_bytes() for p in (pair.aerial_path, pair.satellite_path)]
    with pytest.raises(UserError, match="do not overlap"):
        classify(card, tmp_path, pair)
    assert list(tmp_path.iterdir()) == []
    assert [p.read_bytes() for p in (pair.aerial_path, pair.satellite_path)] == before
    pair = pairs["aligned_ratio_40"]
    before = pair.satellite_path.read_bytes()
    with pytest.raises(UserError, match="same file as an input"):
        classify_land_cover(card, onnx_predictor(card.local_weights, "cpu"),
                            str(pair.satellite_path), aerial=str(pair.aerial_path),
                            satellite=str(pair.satellite_path))
    assert pair.satellite_path.read_bytes() == before


def test_other_heads_and_tasks_are_refused(model):
    import dataclasses
    from rsai_toolbox.models.cards import Head
    card, _, _ = model
    with pytest.raises(UserError, match="rsai:run_model"):
        classify_land_cover(dataclasses.replace(card, head=Head("pixel_table")), None, "x.tif",
                            aerial="a.tif")
