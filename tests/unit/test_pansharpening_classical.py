"""Classical pansharpening on the real WorldView-2 pair (reduced resolution) and tiling."""
import numpy as np
import pytest
import scipy.io

from rsai_toolbox.models.pansharpening import classical as C
from rsai_toolbox.models.pansharpening import filters as F
from rsai_toolbox.models.pansharpening import metrics as M


@pytest.fixture(scope="module")
def wv2_reduced(shared_data):
    mat = scipy.io.loadmat(shared_data / "pansharpening" / "py_pansharpening_imgWV2.mat")
    ms = mat["I_MS"].astype(float).transpose(2, 0, 1)
    pan = mat["I_PAN"].astype(float)
    return M.reduced_resolution_pair(ms, pan, 4, "WV2")


@pytest.fixture(scope="module")
def bicubic_scores(wv2_reduced):
    ms_r, _, ref = wv2_reduced
    return M.reduced_resolution_indices(F.upsample_bicubic(ms_r, 4), ref, 4)


@pytest.mark.parametrize("method", C.METHODS)
def test_method_beats_bicubic_on_reduced_wv2(method, wv2_reduced, bicubic_scores):
    ms_r, pan_r, ref = wv2_reduced
    fused = C.pansharpen(method, ms_r, pan_r, 4, "WV2")
    scores = M.reduced_resolution_indices(fused, ref, 4)
    print(f"{method}: {scores}  bicubic: {bicubic_scores}")
    assert scores["ERGAS"] < bicubic_scores["ERGAS"]
    assert scores["Q2n"] > bicubic_scores["Q2n"]
    assert np.isfinite(fused).all()


def test_brovey_is_gdal_weighted_brovey():
    ms_up = np.array([[[100.0, 0.0]], [[300.0, 0.0]]])  # 2 bands, 1 x 2 pixels
    pan = np.array([[400.0, 50.0]])
    out = C.apply({"method": "brovey", "weights": [0.25, 0.75]}, ms_up, pan)
    pseudo = 0.25 * 100 + 0.75 * 300
    assert np.allclose(out[:, 0, 0], [100 * 400 / pseudo, 300 * 400 / pseudo])
    assert np.all(out[:, 0, 1] == 0.0)  # pseudo-PAN 0 -> 0, as GDAL does


def test_unknown_method_and_bad_sizes_are_user_errors():
    from rsai_toolbox.models.errors import UserError
    with pytest.raises(UserError):
        C.fit("ihs", np.ones((4, 8, 8)), np.ones((32, 32)))
    with pytest.raises(UserError):
        C.fit("gsa", np.ones((4, 8, 8)), np.ones((30, 32)))


@pytest.mark.parametrize("method", ["brovey", "gsa", "bdsd_pc"])
def test_pointwise_apply_is_exactly_tileable(method, wv2_reduced):
    ms_r, pan_r, _ = wv2_reduced
    params = C.fit(method, ms_r, pan_r, 4, "WV2")
    ms_up = F.interp23tap(ms_r, 4)
    whole = C.apply(params, ms_up, pan_r)
    win = (slice(37, 201), slice(150, 320))
    part = C.apply(params, ms_up[:, win[0], win[1]], pan_r[win])
    assert np.array_equal(part, whole[:, win[0], win[1]])


@pytest.mark.parametrize("method", C.METHODS)
def test_tiled_equals_untiled(method, wv2_reduced):
    ms_r, pan_r, _ = wv2_reduced
    whole = C.pansharpen(method, ms_r, pan_r, 4, "WV2")
    tiled = C.pansharpen_tiled(method, ms_r, pan_r, 4, "WV2", tile=96)
    assert np.abs(tiled - whole).max() < 1e-4  # DN; edge-local padding: holds up to the border


def test_halo_is_needed_for_filter_methods(wv2_reduced):
    """With no overlap the tiles differ: the documented halo is what makes them agree."""
    from rsai_toolbox.models.pansharpening.tiling import iter_tiles
    ms_r, pan_r, _ = wv2_reduced
    params = C.fit("mtf_glp_hpm", ms_r, pan_r, 4, "WV2")
    whole = C.pansharpen_tile(params, ms_r, pan_r, 4)
    out = np.empty_like(whole)
    for t in iter_tiles(pan_r.shape, 96, 0, 4):
        out[:, t.write[0], t.write[1]] = C.pansharpen_tile(params, ms_r[:, t.lr_read[0], t.lr_read[1]],
                                                           pan_r[t.read], 4)[:, t.crop[0], t.crop[1]]
    assert np.abs(out - whole).max() > 1.0
    assert C.halo_px("mtf_glp_hpm", 4) == 56 and C.halo_px("gsa", 4) == 36  # documented values
