"""ADWM networks with the authors' released WorldView-3 weights, on CPU."""
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

torch = pytest.importorskip("torch")

from rsai_toolbox.models.pansharpening import adwm as A  # noqa: E402
from rsai_toolbox.models.pansharpening import classical as C  # noqa: E402
from rsai_toolbox.models.pansharpening import filters as F  # noqa: E402
from rsai_toolbox.models.pansharpening import metrics as M  # noqa: E402

# Made once by scripts/make_adwm_expected.py from the plugin's float64 path (see its "about").
EXPECTED = json.loads((Path(__file__).parents[1] / "data" / "adwm_wv3_expected.json").read_text())

# LGPNet: re-checked against the authors' model/bwnet_lgpnet.py (Jie-1203/ADWM @ 492c2f6): with
# the same weights our forward pass equals theirs within 1.5e-3 DN on the WV3 pair (issue 18),
# so this is how the released weights behave, not a rebuild error. Reduced-resolution WV3 (8x8 MS):
# worse than bicubic; it does beat bicubic on WV2. 'temperature' is in the state_dict but unused
# by their code too.
LGPNET_WV3 = pytest.mark.xfail(reason="the released ADWM-LGPNet weights do worse than bicubic on the "
                               "tiny WV3 pair, with a forward pass equal to the authors' code",
                               strict=False)


def _weights(shared_data, name):
    return shared_data / "pansharpening" / "adwm_weights" / A.RELEASED_WEIGHTS[name]


@pytest.fixture(scope="module")
def nets(shared_data):
    return {name: A.load_adwm(name, _weights(shared_data, name)) for name in A.ADWM_NAMES}


@pytest.fixture(scope="module")
def wv3(shared_data):
    mat = scipy.io.loadmat(shared_data / "pansharpening" / "zpnn_WV3_example.mat")
    return mat["I_MS_LR"].astype(float).transpose(2, 0, 1), mat["I_PAN"].astype(float)


@pytest.fixture(scope="module")
def wv2(shared_data):
    mat = scipy.io.loadmat(shared_data / "pansharpening" / "py_pansharpening_imgWV2.mat")
    return mat["I_MS"].astype(float).transpose(2, 0, 1), mat["I_PAN"].astype(float)


@pytest.fixture(scope="module")
def wv2_reduced(wv2):
    return M.reduced_resolution_pair(*wv2, 4, "WV2")


@pytest.fixture
def threads():
    """Restore torch's thread count after a test that changes it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", A.ADWM_NAMES)
def test_released_weights_load_strictly(name, shared_data):
    state = torch.load(str(_weights(shared_data, name)), map_location="cpu", weights_only=True)
    model = A.build_adwm(name)
    assert set(model.state_dict()) == set(state)
    model.load_state_dict(state, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value.to(state[key].dtype), state[key])
    expected = torch.float64 if name == "adwm_lagconv" else torch.float32
    assert {p.dtype for p in model.parameters()} == {expected}


def test_the_layernorm_variant_of_lagconv_is_an_explicit_option(shared_data, wv3):
    """The released LAGConv weights hold no LayerNorm weights; the variant with a weightless
    LayerNorm loads them too but gives another image, and only LAGConv has it."""
    plain = A.load_adwm("adwm_lagconv", _weights(shared_data, "adwm_lagconv"))
    normed = A.load_adwm("adwm_lagconv", _weights(shared_data, "adwm_lagconv"), cov_layernorm=True)
    assert set(plain.state_dict()) == set(normed.state_dict())
    ms, pan = wv3
    a, b = (A.pansharpen_adwm(net, ms[:, :16, :16], pan[:64, :64]) for net in (plain, normed))
    assert np.abs(a - b).max() > 1.0
    with pytest.raises(Exception, match="cov_layernorm"):
        A.build_adwm("adwm_fusionnet", cov_layernorm=True)


@pytest.mark.parametrize("name", A.ADWM_NAMES)
def test_output_on_wv3_equals_the_recorded_float64_output(name, nets, wv3):
    """The default path reproduces the record: LAGConv (float64) to 1e-3 DN, FusionNet and LGPNet
    (float32) to 5e-3 DN; and the record shows what issue 18 measured for LAGConv: the green
    band's mean at 186 DN against an MS mean of 514, 62% of its values clamped to 0."""
    ms, pan = wv3
    record = EXPECTED["networks"][name]
    fused = A.pansharpen_adwm(nets[name], ms, pan)
    rows, cols = np.meshgrid(EXPECTED["sample_rows"], EXPECTED["sample_cols"], indexing="ij")
    tolerance = 1e-3 if name == "adwm_lagconv" else 5e-3
    assert np.abs(fused[:, rows, cols] - np.asarray(record["samples"])).max() < tolerance
    assert np.allclose(fused.mean(axis=(1, 2)), record["band_mean"], atol=tolerance)
    if name == "adwm_lagconv":
        green = 2
        assert abs(record["band_mean"][green] - 186) < 1 and abs(EXPECTED["ms_band_mean"][green] - 514) < 1
        assert abs(record["clamped_fraction"][green] - 0.62) < 0.01


def test_lagconv_does_not_depend_on_the_thread_count(nets, wv3, threads):
    """float32 moved LAGConv by up to 15 DN between 1 and 2 threads; float64 does not."""
    ms, pan = wv3
    torch.set_num_threads(1)
    one = A.pansharpen_adwm(nets["adwm_lagconv"], ms, pan)
    torch.set_num_threads(2)
    two = A.pansharpen_adwm(nets["adwm_lagconv"], ms, pan)
    assert np.abs(one - two).max() < 1e-3


@pytest.mark.parametrize("name,size,tolerance", [("adwm_fusionnet", 32, 0.2), ("adwm_lgpnet", 32, 0.2),
                                                 ("adwm_lagconv", 12, 1e-3)])
def test_tiled_equals_untiled(name, size, tolerance, nets, wv3):
    """Tiles with whole-image statistics equal the untiled run: float32 rounding for FusionNet
    and LGPNet (0.2 DN = 1e-4 of 2047; 9 tiles whose halos are cut from the image), 1e-3 DN for
    LAGConv in float64 (kept to 2 x 2 tiles of a 48-pixel PAN: it makes 16 passes per tile)."""
    ms, pan = wv3
    ms, pan = ms[:, :size - 2, :size], pan[:4 * size - 8, :4 * size]
    whole = A.pansharpen_adwm(nets[name], ms, pan)
    tiled = A.pansharpen_adwm(nets[name], ms, pan, tile=4 * size // 2 - 8 if size > 12 else 24)
    assert np.abs(tiled - whole).max() < tolerance


@pytest.mark.parametrize("name", A.ADWM_NAMES)
def test_nodata_is_left_out_and_written_as_nodata(name, nets, wv3):
    """A nodata frame (NaN) comes out NaN; the statistics leave it out the same way tiled and
    untiled."""
    ms, pan = wv3
    ms, pan = ms[:, :10, :12].copy(), pan[:40, :48]
    ms[:, :2] = np.nan
    whole = A.pansharpen_adwm(nets[name], ms, pan)
    assert np.isnan(whole[:, :8]).all() and np.isfinite(whole[:, 8:]).all()
    tiled = A.pansharpen_adwm(nets[name], ms, pan, tile=24)
    assert np.array_equal(np.isnan(tiled), np.isnan(whole))
    assert np.nanmax(np.abs(tiled - whole)) < (1e-3 if name == "adwm_lagconv" else 0.2)


def test_heavy_clamping_is_warned(nets, wv3, wv2_reduced):
    """On the WV3 example LAGConv clamps 13% of its values (63% of the green band): a warning
    names the share and the band. On the WV2 reduced pair (0.05%) there is none."""
    warnings = []
    A.pansharpen_adwm(nets["adwm_lagconv"], *wv3, warn=warnings.append)
    assert len(warnings) == 1
    assert "13.0% of the network's output values" in warnings[0] and "band 3: 62.6%" in warnings[0]
    ms_r, pan_r, _ = wv2_reduced
    quiet = []
    A.pansharpen_adwm(nets["adwm_fusionnet"], ms_r[:, :40, :40], pan_r[:160, :160], warn=quiet.append)
    assert quiet == []


@pytest.mark.parametrize("name", [A.ADWM_NAMES[0], A.ADWM_NAMES[1],
                                  pytest.param(A.ADWM_NAMES[2], marks=LGPNET_WV3)])
def test_adwm_beats_bicubic_on_reduced_wv3(name, nets, wv3):
    """With the MTF-filtered PAN. Under the toolbox's bicubic PAN FusionNet's SAM on this
    8 x 8 pixel MS (15.1 degrees) is worse than bicubic's (10.1), ERGAS and Q2n better."""
    ms_r, pan_r, ref = M.reduced_resolution_pair(*wv3, 4, "WV3", "mtf")  # 8x8 MS: no border cut
    base = M.reduced_resolution_indices(F.upsample_bicubic(ms_r, 4), ref, 4, cut=None)
    got = M.reduced_resolution_indices(A.pansharpen_adwm(nets[name], ms_r, pan_r), ref, 4, cut=None)
    print(name, got, "bicubic", base)
    assert got["ERGAS"] < base["ERGAS"] and got["Q2n"] > base["Q2n"] and got["SAM"] < base["SAM"]


def test_adwm_beats_bicubic_on_reduced_wv2_and_ranking(nets, wv2, wv2_reduced):
    """Toolbox protocol (bicubic PAN); LAGConv also as issue 18 measured it with the MTF-filtered
    PAN: ERGAS 5.38."""
    ms_r, pan_r, ref = wv2_reduced
    rows = {"bicubic": M.reduced_resolution_indices(F.upsample_bicubic(ms_r, 4), ref, 4),
            "interp23tap (EXP)": M.reduced_resolution_indices(F.upsample(ms_r, 4, "toolbox"), ref, 4)}
    for method in C.METHODS:
        rows[method] = M.reduced_resolution_indices(
            C.pansharpen(method, ms_r, pan_r, 4, "WV2", phase="toolbox"), ref, 4)
    for name, net in nets.items():
        rows[name] = M.reduced_resolution_indices(A.pansharpen_adwm(net, ms_r, pan_r), ref, 4)
    print("\nreduced-resolution WV2 (sorted by ERGAS)\nmethod               ERGAS    SAM      Q8      SCC")
    for key, r in sorted(rows.items(), key=lambda kv: kv[1]["ERGAS"]):
        print(f"{key:20s} {r['ERGAS']:7.4f} {r['SAM']:7.4f} {r['Q2n']:7.4f} {r['SCC']:7.4f}")
    for name in nets:
        assert rows[name]["ERGAS"] < rows["bicubic"]["ERGAS"]
        assert rows[name]["Q2n"] > rows["bicubic"]["Q2n"]
    ms_m, pan_m, ref = M.reduced_resolution_pair(*wv2, 4, "WV2", "mtf")
    lagconv = M.reduced_resolution_indices(A.pansharpen_adwm(nets["adwm_lagconv"], ms_m, pan_m), ref, 4)
    assert abs(lagconv["ERGAS"] - 5.38) < 0.01


@pytest.mark.parametrize("name", A.ADWM_NAMES)
def test_full_resolution_distortions_are_sensible(name, nets, wv3):
    ms, pan = wv3
    fused = A.pansharpen_adwm(nets[name], ms, pan)
    res = M.full_resolution_indices(fused, ms, pan, 4, "WV3")
    print(name, res)
    for key in ("D_lambda", "D_lambda_K", "D_s"):
        assert np.isfinite(res[key]) and 0.0 < res[key] < 1.0


def test_networks_upsample_the_ms_at_the_geometric_phase(nets):
    """The networks add their own bicubic upsampling of the MS back: torch's pixel centres are
    GDAL's, so a bright MS pixel k lands on PAN coordinate 4k + 1.5, the phase rsai:pansharpen
    reads the rasters with."""
    from rsai_toolbox.models.pansharpening.adwm_modules import _upsample
    ms = torch.zeros(1, 1, 12, 12, dtype=torch.float64)
    ms[0, 0, 5, 6] = 1.0
    up = _upsample(ms, 4)[0, 0].numpy()
    ys, xs = np.mgrid[:48, :48]
    assert np.allclose(((up * ys).sum() / up.sum(), (up * xs).sum() / up.sum()), (21.5, 25.5))


def test_onnx_export_matches_torch(nets, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    net = nets["adwm_fusionnet"]
    path = A.export_onnx(net, tmp_path / "fusionnet.onnx", ms_shape=(1, 8, 16, 16))
    rng = np.random.default_rng(0)
    ms = rng.uniform(0, 1, (1, 8, 24, 20)).astype(np.float32)  # other size: dynamic axes
    pan = rng.uniform(0, 1, (1, 1, 96, 80)).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"ms": ms, "pan": pan})[0]
    with torch.inference_mode():
        want = net(torch.from_numpy(ms), torch.from_numpy(pan)).numpy()
    assert np.abs(got - want).max() < 1e-4
