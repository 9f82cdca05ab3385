"""DeepLabV3+ with the satellite branch: shapes for any integer ratio, geometry, ONNX parity."""
import numpy as np
import pytest
import torch

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.fusion.network import (FusionDeepLabV3Plus, export_fusion_onnx,
                                                input_names, transposed_steps)


def _model(ratio=32, satellite_channels=4, fusion="concat", seed=0, **kwargs):
    torch.manual_seed(seed)
    return FusionDeepLabV3Plus(5, 3, satellite_channels, ratio, "resnet18", fusion,
                               **kwargs).eval()


def _inputs(tile, ratio, channels=4, seed=1):
    rng = np.random.default_rng(seed)
    aerial = rng.normal(size=(2, 3, tile, tile)).astype(np.float32)
    satellite = rng.normal(size=(2, channels, tile // ratio, tile // ratio)).astype(np.float32)
    return aerial, satellite


@pytest.mark.parametrize("ratio, steps", [(1, 1), (8, 1), (16, 1), (32, 1), (33, 2), (40, 2),
                                          (64, 2), (65, 3), (128, 3)])
def test_transposed_steps_reach_the_stride_16_grid(ratio, steps):
    assert transposed_steps(ratio) == steps
    if ratio > 16:  # the fewest doublings that reach the aerial feature grid
        assert 2 ** steps >= ratio / 16 > 2 ** (steps - 1)


@pytest.mark.parametrize("ratio, tile", [(32, 128), (40, 160), (10, 80), (5, 80), (64, 128)])
def test_any_integer_ratio_that_divides_the_tile(ratio, tile):
    model = _model(ratio)
    assert model.tile_multiple == np.lcm(16, ratio)
    aerial, satellite = _inputs(tile, ratio)
    with torch.no_grad():
        out = model(torch.from_numpy(aerial), torch.from_numpy(satellite))
    assert out.shape == (2, 5, tile, tile)
    transposed = [m for m in model.satellite.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(transposed) == transposed_steps(ratio)


def test_satellite_input_changes_the_output_and_single_source_has_none():
    model = _model()
    aerial, satellite = _inputs(128, 32)
    a = torch.from_numpy(aerial)
    with torch.no_grad():
        one = model(a, torch.from_numpy(satellite))
        other = model(a, torch.from_numpy(satellite * 3 + 1))
    assert (one - other).abs().max() > 1e-3
    single = _model(satellite_channels=0)
    assert single.satellite is None and input_names(single) == ["aerial"]
    assert input_names(model) == ["aerial", "satellite"]
    with torch.no_grad():
        assert single(a).shape == (2, 5, 128, 128)
    # single-source mode is plain smp DeepLabV3+: same state-dict keys
    import segmentation_models_pytorch as smp
    plain = smp.DeepLabV3Plus("resnet18", encoder_weights=None, classes=5)
    assert set(single.state_dict()) == set(plain.state_dict())
    single.load_state_dict(plain.state_dict())


@pytest.mark.parametrize("ratio, tile", [(32, 256), (40, 320), (64, 512)])
def test_a_satellite_pixel_acts_on_its_own_footprint(ratio, tile):
    """Perturb one satellite pixel: the change in the output is centred on the aerial pixels it
    covers (a misplaced, flipped or transposed branch would move it by a whole ratio)."""
    model = _model(ratio)
    aerial, satellite = _inputs(tile, ratio)
    a, s = torch.from_numpy(aerial[:1]), torch.from_numpy(satellite[:1])
    rows, cols = np.mgrid[0:tile, 0:tile]
    with torch.no_grad():
        base = model(a, s)
        for i, j in ((2, 5), (4, 3)):
            changed = s.clone()
            changed[0, :, i, j] += 5
            effect = (model(a, changed) - base).abs().sum(1)[0].numpy()
            centre = ((effect * rows).sum() / effect.sum(), (effect * cols).sum() / effect.sum())
            assert abs(centre[0] - (i + 0.5) * ratio) < ratio / 4
            assert abs(centre[1] - (j + 0.5) * ratio) < ratio / 4
            near = effect[(i - 1) * ratio:(i + 2) * ratio, (j - 1) * ratio:(j + 2) * ratio]
            assert near.sum() > 0.5 * effect.sum()


@pytest.mark.parametrize("fusion, ratio, tile, satellite_channels",
                         [("concat", 32, 128, 4), ("add", 40, 160, 6), ("concat", 32, 64, 0)])
def test_onnx_has_named_inputs_and_equals_torch(tmp_path, fusion, ratio, tile,
                                                satellite_channels):
    import onnxruntime as ort

    model = _model(ratio, satellite_channels, fusion)
    path = tmp_path / "fusion.onnx"
    export_fusion_onnx(model, path, tile, 3, satellite_channels)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == input_names(model)
    assert [o.name for o in session.get_outputs()] == ["output"]
    for size in (tile, 2 * tile):  # dynamic tile size and batch
        aerial, satellite = _inputs(size, ratio, max(satellite_channels, 1))
        feeds = {"aerial": aerial}
        args = [torch.from_numpy(aerial)]
        if satellite_channels:
            feeds["satellite"] = satellite
            args.append(torch.from_numpy(satellite))
        with torch.no_grad():
            expected = model(*args).numpy()
        got = session.run(["output"], feeds)[0]
        assert got.shape == (2, 5, size, size)
        assert np.abs(got - expected).max() <= 1e-5


def test_shapes_and_settings_that_do_not_fit_are_user_errors():
    model = _model(40)
    with pytest.raises(UserError, match="multiple of 80"):
        model.check_tile((1, 3, 128, 128), (1, 4, 3, 3))
    with pytest.raises(UserError, match=r"\(4, 4\)"):
        model.check_tile((1, 3, 160, 160), (1, 4, 5, 5))
    with pytest.raises(UserError, match="none"):
        model.check_tile((1, 3, 160, 160))
    _model(satellite_channels=0).check_tile((1, 3, 48, 48))
    with pytest.raises(UserError, match="fusion"):
        _model(fusion="multiply")
    with pytest.raises(UserError, match="whole number"):
        _model(ratio=2.5)
    with pytest.raises(UserError, match="encoder"):
        FusionDeepLabV3Plus(5, encoder_name="no-such-encoder")
