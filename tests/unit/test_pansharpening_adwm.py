"""ADWM networks with the authors' released WorldView-3 weights, on CPU."""
import numpy as np
import pytest
import scipy.io

torch = pytest.importorskip("torch")

from rsai_toolbox.models.pansharpening import adwm as A  # noqa: E402
from rsai_toolbox.models.pansharpening import classical as C  # noqa: E402
from rsai_toolbox.models.pansharpening import filters as F  # noqa: E402
from rsai_toolbox.models.pansharpening import metrics as M  # noqa: E402

# LGPNet: re-checked against the authors' model/bwnet_lgpnet.py (Jie-1203/ADWM @ 492c2f6): with
# the same weights our forward pass equals theirs within 1e-6 on the WV3 pair (full and reduced),
# so this is how the released weights behave, not a rebuild error. Reduced-resolution WV3 (8x8 MS):
# ERGAS 14.17 / Q8 0.244 / SAM 10.94 against bicubic 12.80 / 0.260 / 10.09 (it does beat bicubic
# on WV2: ERGAS 6.47 vs 7.90). 'temperature' is in the state_dict but unused by their code too.
LGPNET_WV3 = pytest.mark.xfail(reason="the released ADWM-LGPNet weights do worse than bicubic on the "
                               "tiny WV3 pair (ERGAS 14.17 vs 12.80), with a forward pass equal to "
                               "the authors' code", strict=False)


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
def wv2_reduced(shared_data):
    mat = scipy.io.loadmat(shared_data / "pansharpening" / "py_pansharpening_imgWV2.mat")
    return M.reduced_resolution_pair(mat["I_MS"].astype(float).transpose(2, 0, 1),
                                     mat["I_PAN"].astype(float), 4, "WV2")


@pytest.mark.parametrize("name", A.ADWM_NAMES)
def test_released_weights_load_strictly(name, shared_data):
    state = torch.load(str(_weights(shared_data, name)), map_location="cpu", weights_only=True)
    model = A.build_adwm(name)
    assert set(model.state_dict()) == set(state)
    model.load_state_dict(state, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])


@pytest.mark.parametrize("name", [A.ADWM_NAMES[0], A.ADWM_NAMES[1],
                                  pytest.param(A.ADWM_NAMES[2], marks=LGPNET_WV3)])
def test_adwm_beats_bicubic_on_reduced_wv3(name, nets, wv3):
    ms_r, pan_r, ref = M.reduced_resolution_pair(*wv3, 4, "WV3")  # 8x8 MS, 32x32 PAN: no border cut
    base = M.reduced_resolution_indices(F.upsample_bicubic(ms_r, 4), ref, 4, cut=None)
    got = M.reduced_resolution_indices(A.pansharpen_adwm(nets[name], ms_r, pan_r), ref, 4, cut=None)
    print(name, got, "bicubic", base)
    assert got["ERGAS"] < base["ERGAS"] and got["Q2n"] > base["Q2n"] and got["SAM"] < base["SAM"]


def test_adwm_beats_bicubic_on_reduced_wv2_and_ranking(nets, wv2_reduced):
    ms_r, pan_r, ref = wv2_reduced
    rows = {"bicubic": M.reduced_resolution_indices(F.upsample_bicubic(ms_r, 4), ref, 4),
            "interp23tap (EXP)": M.reduced_resolution_indices(F.interp23tap(ms_r, 4), ref, 4)}
    for method in C.METHODS:
        rows[method] = M.reduced_resolution_indices(C.pansharpen(method, ms_r, pan_r, 4, "WV2"), ref, 4)
    for name, net in nets.items():
        rows[name] = M.reduced_resolution_indices(A.pansharpen_adwm(net, ms_r, pan_r), ref, 4)
    print("\nreduced-resolution WV2 (sorted by ERGAS)\nmethod               ERGAS    SAM      Q8      SCC")
    for key, r in sorted(rows.items(), key=lambda kv: kv[1]["ERGAS"]):
        print(f"{key:20s} {r['ERGAS']:7.4f} {r['SAM']:7.4f} {r['Q2n']:7.4f} {r['SCC']:7.4f}")
    for name in nets:
        assert rows[name]["ERGAS"] < rows["bicubic"]["ERGAS"]
        assert rows[name]["Q2n"] > rows["bicubic"]["Q2n"]


@pytest.mark.parametrize("name", A.ADWM_NAMES)
def test_full_resolution_distortions_are_sensible(name, nets, wv3):
    ms, pan = wv3
    fused = A.pansharpen_adwm(nets[name], ms, pan)
    res = M.full_resolution_indices(fused, ms, pan, 4, "WV3")
    print(name, res)
    for key in ("D_lambda", "D_lambda_K", "D_s"):
        assert np.isfinite(res[key]) and 0.0 < res[key] < 1.0


@pytest.mark.parametrize("name,size", [("adwm_fusionnet", 80), ("adwm_lgpnet", 80), ("adwm_lagconv", 40)])
def test_tiled_equals_untiled(name, size, nets, wv2_reduced):
    ms_r, pan_r, _ = wv2_reduced
    ms_r, pan_r = ms_r[:, :size, :size], pan_r[: 4 * size, : 4 * size]
    whole = A.pansharpen_adwm(nets[name], ms_r, pan_r) / 2047
    tiled = A.pansharpen_adwm(nets[name], ms_r, pan_r, tile=4 * size // 2 - 8) / 2047
    assert np.abs(tiled - whole).max() < 1e-4


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
