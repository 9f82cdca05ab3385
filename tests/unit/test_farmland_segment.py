"""FTW cards load through the generic backend (plain and Lightning checkpoints) and the
farmland core runs the engine on two dates read from their own files."""
import numpy as np
import pytest
import torch
from osgeo import gdal

from helpers import write_geotiff
from helpers_farmland import ftw_model
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.farmland.segment import check_card, segment_fields
from rsai_toolbox.models.registry import find_card
from rsai_toolbox.models.runtime.backends import load_predictor
from rsai_toolbox.models.runtime.engine import RunOptions


@pytest.fixture(scope="module")
def model():
    return ftw_model(3, seed=1)


def test_cards_describe_the_published_weights():
    for n in (2, 3):
        card = find_card(f"ftw-{n}class")
        assert card.weights.repo_id == "torchgeo/ftw" and card.weights.sha256 is None
        assert card.weights.revision == "d2fdab6ea9d9cd38b491292cc9a5c8642533cef5"
        assert [spec.name for spec in card.inputs] == ["date_a", "date_b"]
        assert all(spec.scale == 3000 and spec.bands == ("B04", "B03", "B02", "B08")
                   for spec in card.inputs)
        assert card.feed == "stacked" and len(card.classes) == n
        assert card.licence == "CC-BY-4.0" and "2409.16252" in card.citation
        assert "trust on first use" in card.description
        check_card(card)


@pytest.mark.parametrize("layout", ["plain", "lightning"])
def test_backend_loads_both_checkpoint_layouts(tmp_path, model, layout):
    state = model.state_dict()
    if layout == "lightning":
        state = {"state_dict": {f"model.{k}": v for k, v in state.items()}}
        state["state_dict"]["criterion.weight"] = torch.ones(3)
    torch.save(state, tmp_path / "w.pth")
    card = find_card("ftw-3class").with_local_weights(tmp_path / "w.pth")
    predictor = load_predictor(card, tmp_path / "w.pth", "cpu")
    x = np.random.default_rng(0).random((1, 8, 64, 64), dtype=np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    out = predictor({"date_a": x[:, :4], "date_b": x[:, 4:]})["output"]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_segment_two_dates_on_a_real_crop(tmp_path, shared_data, model):
    source = gdal.Open(str(shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif"))
    stack = source.ReadAsArray(0, 0, 160, 128)
    gt = source.GetGeoTransform()
    a = write_geotiff(tmp_path / "a.tif", stack[:4], gt, descriptions=("B04", "B03", "B02", "B08"))
    b = write_geotiff(tmp_path / "b.tif", stack[4:], gt, descriptions=("B04", "B03", "B02", "B08"))
    torch.save(model.state_dict(), tmp_path / "w.pth")
    card = find_card("ftw-3class").with_local_weights(tmp_path / "w.pth")
    predictor = load_predictor(card, tmp_path / "w.pth", "cpu")
    segment_fields(card, predictor, str(tmp_path / "out.tif"), str(tmp_path / "p.tif"),
                   input_a=str(a), input_b=str(b), options=RunOptions(tile_size=192, overlap=0),
                   callbacks=Callbacks(log=lambda m: None))
    x = np.pad(stack.astype(np.float32) / 3000, ((0, 0), (0, 64), (0, 32)), mode="reflect")
    with torch.inference_mode():
        expected = torch.softmax(model(torch.from_numpy(x[None]))[0], 0).numpy()[:, :128, :160]
    np.testing.assert_allclose(gdal.Open(str(tmp_path / "p.tif")).ReadAsArray(), expected, atol=1e-4)
    with pytest.raises(UserError, match="same file as an input"):
        segment_fields(card, predictor, str(a), input_a=str(a), input_b=str(b),
                       callbacks=Callbacks(log=lambda m: None))
    with pytest.raises(UserError, match="INPUT_A and INPUT_B are the same file"):
        segment_fields(card, predictor, str(tmp_path / "o.tif"), input_a=str(a), input_b=str(a),
                       callbacks=Callbacks(log=lambda m: None))
