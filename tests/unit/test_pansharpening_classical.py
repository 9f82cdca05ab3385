"""Classical pansharpening: the toolbox's figures on the real WorldView-2 pair (reduced
resolution), registration on the geotransform's grid (a single bright MS pixel), tiling, nodata."""
import numpy as np
import pytest
import scipy.io
from scipy import ndimage

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.pansharpening import classical as C
from rsai_toolbox.models.pansharpening import filters as F
from rsai_toolbox.models.pansharpening import metrics as M

import toolbox_reference as T

# Vivone's toolbox (DLPan-Toolbox, run in Octave) on this WV2 pair degraded by its own
# resize_images, as quoted in issue 11: Q2n, SAM, ERGAS, SCC.
TOOLBOX_WV2 = {
    "gsa": (0.8872, 7.957, 4.737, 0.8924),
    "mtf_glp_hpm": (0.9027, 7.300, 4.256, 0.9315),
    "bdsd_pc": (0.9023, 7.354, 4.337, 0.9201),
    "awlp": (0.8999, 7.064, 4.374, 0.9262),
    "EXP": (0.6702, 7.683, 7.637, 0.7495),  # the upsampled MS alone
}
INTERIOR = (slice(None), slice(40, -40), slice(40, -40))  # away from every padding's reach


@pytest.fixture(scope="module")
def wv2(shared_data):
    mat = scipy.io.loadmat(shared_data / "pansharpening" / "py_pansharpening_imgWV2.mat")
    return mat["I_MS"].astype(float).transpose(2, 0, 1), mat["I_PAN"].astype(float)


@pytest.fixture(scope="module")
def wv2_reduced(wv2):
    return M.reduced_resolution_pair(*wv2, 4, "WV2")  # the toolbox's protocol (bicubic PAN)


@pytest.mark.parametrize("method", list(TOOLBOX_WV2))
def test_reduced_resolution_figures_match_the_toolbox(method, wv2_reduced):
    ms_r, pan_r, ref = wv2_reduced
    if method == "EXP":
        fused = F.upsample(ms_r, 4, "toolbox")
    else:
        fused = C.pansharpen(method, ms_r, pan_r, 4, "WV2", phase="toolbox")
    got = M.reduced_resolution_indices(fused, ref, 4)
    q2n, sam, ergas, scc = TOOLBOX_WV2[method]
    print(method, got)
    assert abs(got["Q2n"] - q2n) <= 0.005 and abs(got["ERGAS"] - ergas) <= 0.05
    assert abs(got["SAM"] - sam) <= 0.05 and abs(got["SCC"] - scc) <= 0.005


def test_the_mtf_filtered_pan_protocol_is_stricter(wv2):
    """The MTF-filtered PAN (an option of the quality tool) scores every method worse."""
    ms_b, pan_b, ref = M.reduced_resolution_pair(*wv2, 4, "WV2", "bicubic")
    ms_m, pan_m, _ = M.reduced_resolution_pair(*wv2, 4, "WV2", "mtf")
    assert np.array_equal(ms_b, ms_m) and np.allclose(pan_b, F.imresize(wv2[1], 0.25))
    for method in ("gsa", "mtf_glp_hpm"):
        bicubic = M.reduced_resolution_indices(C.pansharpen(method, ms_b, pan_b, 4, "WV2", phase="toolbox"), ref, 4)
        mtf = M.reduced_resolution_indices(C.pansharpen(method, ms_m, pan_m, 4, "WV2", phase="toolbox"), ref, 4)
        assert mtf["ERGAS"] > bicubic["ERGAS"] + 0.5 and mtf["Q2n"] < bicubic["Q2n"] - 0.02


def test_bdsd_pc_interior_equals_the_toolbox(wv2_reduced):
    """BDSD-PC fits on the toolbox's own padding (circular interp23tap) in toolbox mode: the
    interior equals a line-by-line transcription of BDSD_PC.m within 1 DN (it was 32 DN off
    with edge replication in the fit), and that transcription scores the toolbox's figures."""
    ms_r, pan_r, ref = wv2_reduced
    reference = T.bdsd_pc(ms_r, pan_r, 4, "WV2")
    q2n, sam, ergas, scc = TOOLBOX_WV2["bdsd_pc"]
    figures = M.reduced_resolution_indices(reference, ref, 4)
    assert abs(figures["Q2n"] - q2n) < 5e-4 and abs(figures["ERGAS"] - ergas) < 5e-3
    ours = C.pansharpen("bdsd_pc", ms_r, pan_r, 4, "WV2", phase="toolbox")
    assert np.abs(ours - reference)[INTERIOR].max() < 1.0


def test_gsa_interior_equals_the_toolbox(wv2_reduced):
    """GSA's low-pass has the toolbox's wavelet edges: the interior equals a transcription of
    GSA.m with ndwt2_working/indwt2_working (0.5 DN off before)."""
    ms_r, pan_r, _ = wv2_reduced
    reference = T.gsa(ms_r, pan_r, 4)
    ours = C.pansharpen("gsa", ms_r, pan_r, 4, "WV2", phase="toolbox")
    assert np.abs(ours - reference)[INTERIOR].max() < 1e-3


@pytest.mark.parametrize("method", C.METHODS)
def test_method_beats_bicubic_on_reduced_wv2(method, wv2_reduced):
    ms_r, pan_r, ref = wv2_reduced
    bicubic = M.reduced_resolution_indices(F.upsample_bicubic(ms_r, 4), ref, 4)
    fused = C.pansharpen(method, ms_r, pan_r, 4, "WV2", phase="toolbox")
    scores = M.reduced_resolution_indices(fused, ref, 4)
    assert scores["ERGAS"] < bicubic["ERGAS"] and scores["Q2n"] > bicubic["Q2n"]
    assert np.isfinite(fused).all()


# --------------------------------------------------------------------------- registration
def _smooth(rng, shape, low, high):
    coarse = rng.uniform(low, high, (shape[0], 4, 4))
    return np.stack([ndimage.zoom(c, (shape[1] / 4, shape[2] / 4), order=3, mode="nearest")
                     for c in coarse])


def spot_centroid(diff: np.ndarray, centre, radius: float):
    """Centroid of ``diff`` over the pixels within ``radius`` (both axes) of ``centre``."""
    ys, xs = np.mgrid[:diff.shape[0], :diff.shape[1]]
    window = (np.abs(ys - centre[0]) <= radius) & (np.abs(xs - centre[1]) <= radius)
    weights = np.where(window, diff, 0.0)
    return (weights * ys).sum() / weights.sum(), (weights * xs).sum() / weights.sum()


@pytest.mark.parametrize("ratio", [2, 3, 4])
@pytest.mark.parametrize("method", C.METHODS)
def test_a_bright_ms_pixel_stays_where_gdal_puts_it(method, ratio):
    """MS pixel k covers PAN pixels r*k .. r*k+r-1 (edges on edges): its centre is PAN
    coordinate r*k + (r-1)/2. A brighter MS pixel (an odd and an even index) must come out
    centred there, to a tenth of a PAN pixel; the toolbox's phase is half a pixel off for an
    even ratio (and the same for an odd one)."""
    rng = np.random.default_rng(ratio)
    ms = _smooth(rng, (4, 24, 24), 300, 600)
    pan = _smooth(rng, (1, 24 * ratio, 24 * ratio), 400, 500)[0]
    k = (11, 12)
    spot = ms.copy()
    spot[0, k[0], k[1]] += 500
    centre = (ratio * k[0] + (ratio - 1) / 2, ratio * k[1] + (ratio - 1) / 2)
    for phase, offset in (("geometric", 0.0), ("toolbox", 0.5 * (1 - ratio % 2))):
        params = C.fit(method, ms, pan, ratio, "generic", phase=phase)
        diff = C.pansharpen_tile(params, spot, pan, ratio)[0] - C.pansharpen_tile(params, ms, pan, ratio)[0]
        got = spot_centroid(diff, centre, 3 * ratio)
        assert np.abs(np.subtract(got, centre) - offset).max() < 0.1, (phase, got, centre)


# --------------------------------------------------------------------------- tiling
@pytest.mark.parametrize("method", ["brovey", "gsa", "bdsd_pc"])
def test_pointwise_apply_is_exactly_tileable(method, wv2_reduced):
    ms_r, pan_r, _ = wv2_reduced
    params = C.fit(method, ms_r, pan_r, 4, "WV2")
    ms_up = F.upsample(ms_r, 4)
    whole = C.apply(params, ms_up, pan_r)
    win = (slice(37, 201), slice(150, 320))
    part = C.apply(params, ms_up[:, win[0], win[1]], pan_r[win])
    assert np.array_equal(part, whole[:, win[0], win[1]])


@pytest.mark.parametrize("phase", ["geometric", "toolbox"])
@pytest.mark.parametrize("method", C.METHODS)
def test_tiled_equals_untiled(method, phase, wv2_reduced):
    ms_r, pan_r, _ = wv2_reduced
    whole = C.pansharpen(method, ms_r, pan_r, 4, "WV2", phase=phase)
    tiled = C.pansharpen_tiled(method, ms_r, pan_r, 4, "WV2", tile=96, phase=phase)
    assert np.abs(tiled - whole).max() < 1e-4  # DN; edge-local padding: holds up to the border


@pytest.mark.parametrize("method", ["awlp", "mtf_glp_hpm"])
def test_tiled_equals_untiled_at_an_odd_ratio(method, wv2_reduced):
    ms_r, _, _ = wv2_reduced
    ms3 = ms_r[:, :60, :60]
    pan3 = F.imresize(ms3.mean(axis=0), 3.0) + np.random.default_rng(3).normal(0, 20, (180, 180))
    whole = C.pansharpen(method, ms3, pan3, 3, "WV2")
    tiled = C.pansharpen_tiled(method, ms3, pan3, 3, "WV2", tile=45)
    assert np.abs(tiled - whole).max() < 1e-4


def test_halo_is_needed_for_filter_methods(wv2_reduced):
    """With no overlap the tiles differ: the documented halo is what makes them agree."""
    ms_r, pan_r, _ = wv2_reduced
    params = C.fit("mtf_glp_hpm", ms_r, pan_r, 4, "WV2")
    whole = C.pansharpen_tile(params, ms_r, pan_r, 4)
    out = np.empty_like(whole)
    for read, lr_read, write, crop in C.tile_windows(pan_r.shape, 96, 0, 4):
        out[:, write[0], write[1]] = C.pansharpen_tile(params, ms_r[:, lr_read[0], lr_read[1]],
                                                       pan_r[read], 4)[:, crop[0], crop[1]]
    assert np.abs(out - whole).max() > 1.0
    assert (C.halo_px("mtf_glp_hpm", 4), C.halo_px("gsa", 4)) == (48, 24)  # documented values
    assert (C.halo_px("mtf_glp_hpm", 4, "toolbox"), C.halo_px("gsa", 4, "toolbox")) == (60, 36)


# --------------------------------------------------------------------------- nodata
@pytest.mark.parametrize("method", C.METHODS)
def test_nodata_is_left_out_of_the_fit_and_written_as_nodata(method, wv2_reduced):
    """A nodata frame (NaN) neither enters the fit nor the output: the output is NaN exactly
    under it, and the valid part matches the fusion of the valid part alone (up to the edge
    effects of a different border)."""
    ms_r, pan_r, _ = wv2_reduced
    b = 5  # MS pixels
    framed = ms_r.copy()
    framed[:, :b], framed[:, -b:], framed[:, :, :b], framed[:, :, -b:] = np.nan, np.nan, np.nan, np.nan
    out = C.pansharpen(method, framed, pan_r, 4, "WV2")
    frame = np.ones(pan_r.shape, bool)
    frame[4 * b:-4 * b, 4 * b:-4 * b] = False
    assert np.isnan(out[:, frame]).all() and np.isfinite(out[:, ~frame]).all()
    crop = C.pansharpen(method, ms_r[:, b:-b, b:-b], pan_r[4 * b:-4 * b, 4 * b:-4 * b], 4, "WV2")
    inside = out[:, 4 * b:-4 * b, 4 * b:-4 * b]
    assert np.median(np.abs(inside - crop) / np.maximum(crop, 1.0)) < 0.005
    tiled = C.pansharpen_tiled(method, framed, pan_r, 4, "WV2", tile=96)
    assert np.array_equal(np.isnan(tiled), np.isnan(out))
    assert np.nanmax(np.abs(tiled - out)) < 1e-4


def test_brovey_is_gdal_weighted_brovey():
    ms_up = np.array([[[100.0, 0.0]], [[300.0, 0.0]]])  # 2 bands, 1 x 2 pixels
    pan = np.array([[400.0, 50.0]])
    out = C.apply({"method": "brovey", "weights": [0.25, 0.75]}, ms_up, pan)
    pseudo = 0.25 * 100 + 0.75 * 300
    assert np.allclose(out[:, 0, 0], [100 * 400 / pseudo, 300 * 400 / pseudo])
    assert np.all(out[:, 0, 1] == 0.0)  # pseudo-PAN 0 -> 0, as GDAL does


def test_unknown_method_phase_and_bad_sizes_are_user_errors():
    with pytest.raises(UserError):
        C.fit("ihs", np.ones((4, 8, 8)), np.ones((32, 32)))
    with pytest.raises(UserError):
        C.fit("gsa", np.ones((4, 8, 8)), np.ones((30, 32)))
    with pytest.raises(UserError, match="phase"):
        C.fit("gsa", np.ones((4, 8, 8)), np.ones((32, 32)), phase="centre")
    with pytest.raises(UserError, match="nodata"):
        C.fit("gsa", np.full((4, 8, 8), np.nan), np.ones((32, 32)))
