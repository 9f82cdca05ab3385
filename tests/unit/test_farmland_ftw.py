"""FTW U-Net: checkpoint layouts load strictly through the card's runtime path; a real two-date
Sentinel-2 window runs through."""
import numpy as np
import pytest
import torch
from osgeo import gdal

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.farmland import ftw
from rsai_toolbox.models.registry import find_card
from rsai_toolbox.models.runtime.backends import load_predictor


def load_through_card(path, classes=3):
    """The FTW network as a tool loads it: the card's architecture and checkpoint reader."""
    card = find_card(f"ftw-{classes}class").with_local_weights(path)
    return load_predictor(card, path, "cpu")


@pytest.fixture(scope="module")
def reference_state():
    torch.manual_seed(0)
    model = ftw.build_ftw_unet(3)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same(a: dict, b: dict):
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_plain_state_dict_as_published_on_the_hub(tmp_path, reference_state):
    # torchgeo loads the Hub .pth straight into smp.Unet (strict): un-prefixed keys.
    path = tmp_path / "sentinel2_unet_effb3.pth"
    torch.save(reference_state, path)
    loaded = ftw.load_ftw_state_dict(path)
    _assert_same(loaded, reference_state)
    x = np.random.default_rng(0).random((1, 4, 64, 64), dtype=np.float32)
    model = ftw.build_ftw_unet(3)
    model.load_state_dict(reference_state)
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(np.concatenate([x, x], axis=1))).numpy()
    out = load_through_card(path)({"date_a": x, "date_b": x})["output"]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_lightning_checkpoint_layout(tmp_path, reference_state):
    # ftw-baselines' own checkpoints: Lightning dict, "model." prefix, loss weight buffer.
    ckpt = {"state_dict": {f"model.{k}": v for k, v in reference_state.items()},
            "hyper_parameters": {"model": "unet", "backbone": "efficientnet-b3",
                                 "in_channels": 8, "num_classes": 3}}
    ckpt["state_dict"]["criterion.weight"] = torch.tensor([0.04, 0.08, 0.88])
    path = tmp_path / "last.ckpt"
    torch.save(ckpt, path)
    _assert_same(ftw.load_ftw_state_dict(path), reference_state)
    assert load_through_card(path, 3) is not None


def test_wrong_class_count_and_wrong_architecture_are_user_errors(tmp_path, reference_state):
    path = tmp_path / "w.pth"
    torch.save(reference_state, path)
    with pytest.raises(UserError, match="do not fit the architecture"):
        load_through_card(path, 2)
    broken = dict(reference_state)
    broken.pop("decoder.blocks.0.conv1.0.weight")
    torch.save(broken, path)
    with pytest.raises(UserError, match="do not fit the architecture"):
        load_through_card(path)
    with pytest.raises(UserError, match="does not exist"):
        ftw.load_ftw_state_dict(tmp_path / "missing.pth")


def test_forward_on_real_two_date_window(shared_data, tmp_path, reference_state):
    ds = gdal.Open(str(shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif"))
    assert ds.RasterCount == 8
    window = ds.ReadAsArray(100, 100, 64, 96)  # (8, 96, 64) DN
    assert window.shape == (8, 96, 64)
    assert not ftw.looks_like_reflectance_0_1(window)
    x = (window / np.float32(find_card("ftw-3class").primary.scale)).astype(np.float32)[None]
    assert 0 < x.mean() < 2

    path = tmp_path / "w.pth"
    torch.save(reference_state, path)
    out = load_through_card(path)({"date_a": x[:, :4], "date_b": x[:, 4:]})["output"]
    assert out.shape == (1, 3, 96, 64)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("descriptions, expected", [
    (["B4", "B3", "B2", "B8"], [0, 1, 2, 3]),
    (["B08", "B02", "B03", "B04"], [3, 2, 1, 0]),
    (["b04 (Red)", "B03 (green)", "B02 (blue)", "B08 (NIR)"], [0, 1, 2, 3]),
    (["blue", "green", "red", "nir"], [2, 1, 0, 3]),
    (["B05 red edge", "Red", "Green", "Blue", "NIR"], [1, 2, 3, 4]),
    (["B8A", "B08", "B04", "B03", "B02"], [2, 3, 4, 1]),
])
def test_match_bands(descriptions, expected):
    assert ftw.match_bands(descriptions) == expected


def test_match_bands_names_what_is_missing():
    with pytest.raises(UserError) as err:
        ftw.match_bands(["B04", "B03", "B8A", ""])
    assert "B02" in str(err.value) and "B08" in str(err.value)
    assert "B04" not in str(err.value).split("not found")[0]


def test_reflectance_0_1_detection(shared_data):
    ds = gdal.Open(str(shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif"))
    dn = ds.ReadAsArray(0, 0, 50, 50).astype(np.float32)
    assert not ftw.looks_like_reflectance_0_1(dn)
    assert ftw.looks_like_reflectance_0_1(dn / 10000.0)
    assert not ftw.looks_like_reflectance_0_1(np.zeros((4, 8, 8)))
