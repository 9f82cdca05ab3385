"""rsai:pansharpen and rsai:pansharpening_quality through real qgis_process, on the shared
WorldView-2 (1280 px PAN) and WorldView-3 (128 px PAN) pairs wrapped into GeoTIFFs."""

import csv
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from rsai_toolbox.models.pansharpening import classical, metrics, quality, rasters

from helpers import EXAMPLE_MODELS, qgis_process, read, write_geotiff
from helpers_pansharpening import gdal_cubic, geotransform, load_pair, write_pair

CLASSICAL = {"brovey": 0, "gsa": 1, "mtf_glp_hpm": 2, "bdsd_pc": 3, "awlp": 4}
ADWM = {"adwm_fusionnet": 5, "adwm_lagconv": 6, "adwm_lgpnet": 7}
SENSOR = {"WV3": 0, "WV2": 1, "QB": 2, "GF2": 3, "generic": 4}
BORDER = 40  # PAN pixels left out where a comparison is "away from borders"


@pytest.fixture
def profile(tmp_path):
    return {"QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "qgis"),
            "RSAI_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def wv2(shared_data, tmp_path_factory):
    return write_pair(shared_data, "WV2", tmp_path_factory.mktemp("wv2"))


@pytest.fixture(scope="module")
def wv3(shared_data, tmp_path_factory):
    return write_pair(shared_data, "WV3", tmp_path_factory.mktemp("wv3"))


def pansharpen(pan, ms, out, method, sensor, profile, *extra, check=True):
    return qgis_process("run", "rsai:pansharpen", "--", f"PAN={pan}", f"MS={ms}",
                        f"METHOD={method}", f"SENSOR={SENSOR[sensor]}", "DEVICE=1",
                        f"OUTPUT={out}", *extra, env=profile, check=check)


def assert_on_pan_grid(out_path, pan_path, bands=8):
    out, pan = gdal.Open(str(out_path)), gdal.Open(str(pan_path))
    assert (out.RasterXSize, out.RasterYSize, out.RasterCount) == (
        pan.RasterXSize, pan.RasterYSize, bands)
    assert out.GetGeoTransform() == pytest.approx(pan.GetGeoTransform())
    assert out.GetSpatialRef().GetAuthorityCode(None) == "32633"


def assert_rgb_style(out_path, rgb=(5, 3, 2)):
    qml = Path(out_path).with_suffix(".qml").read_text()
    assert 'type="multibandcolor"' in qml
    for colour, band in zip(("red", "green", "blue"), rgb):
        assert f'{colour}Band="{band}"' in qml


@pytest.mark.parametrize("method", list(CLASSICAL))
def test_classical_methods_on_wv2_match_the_core(method, wv2, shared_data, tmp_path, profile):
    pan_path, ms_path = wv2
    out_path = tmp_path / f"{method}.tif"
    pansharpen(pan_path, ms_path, out_path, CLASSICAL[method], "WV2", profile)
    assert_on_pan_grid(out_path, pan_path)
    assert_rgb_style(out_path)
    fused, ds = read(out_path)
    assert fused.dtype == np.float32
    ms, pan = load_pair(shared_data, "WV2")
    if method == "brovey":  # pointwise on GDAL's cubic upsampling: bit-exact
        expected = rasters.brovey(np.full(8, 1 / 8), gdal_cubic(ms, 4), pan)
        assert np.array_equal(fused, expected)
    else:  # tiled with halos against the untiled core, away from the borders
        expected = classical.pansharpen(method, ms, pan, 4, "WV2")
        inner = (slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
        np.testing.assert_allclose(fused[inner], expected[inner], rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("name", list(ADWM))
def test_adwm_on_wv3_with_local_weights_matches_the_core(name, wv3, shared_data, tmp_path, profile):
    from rsai_toolbox.models.pansharpening import adwm
    pan_path, ms_path = wv3
    weights = shared_data / "pansharpening" / "adwm_weights" / adwm.RELEASED_WEIGHTS[name]
    out_path = tmp_path / f"{name}.tif"
    run = pansharpen(pan_path, ms_path, out_path, ADWM[name], "WV3", profile, f"WEIGHTS={weights}")
    log = run.stdout + run.stderr
    assert f"Model {name.replace('_', '-')} (MIT) from local file" in log and "device torch cpu" in log
    assert_on_pan_grid(out_path, pan_path)
    assert_rgb_style(out_path)
    # every network clamps more than 3% of its output on this WV3 sample (6 to 13%)
    assert "of the network's output values fell outside 0..2047 and were clamped" in log
    ms, pan = load_pair(shared_data, "WV3")
    expected = adwm.pansharpen_adwm(adwm.load_adwm(name, weights), ms, pan)
    fused, _ = read(out_path)
    # LAGConv runs in float64 (float32 moved it by 4.8 DN between qgis_process and the core);
    # FusionNet and LGPNet in float32: 0.2 DN (1e-4 of the range) of thread-dependent rounding
    tolerance = 1e-3 if name == "adwm_lagconv" else 0.2
    assert np.abs(fused - expected).max() < tolerance


def test_ms_in_another_crs_is_warped_onto_the_pan_grid(wv2, tmp_path, profile):
    pan_path, ms_path = wv2
    moved = tmp_path / "ms_3857.tif"
    gdal.Warp(str(moved), str(ms_path), dstSRS="EPSG:3857", resampleAlg="cubic")
    pansharpen(pan_path, ms_path, tmp_path / "same.tif", CLASSICAL["gsa"], "WV2", profile)
    run = pansharpen(pan_path, moved, tmp_path / "warped.tif", CLASSICAL["gsa"], "WV2", profile)
    assert "ratio 4" in run.stdout + run.stderr
    assert_on_pan_grid(tmp_path / "warped.tif", pan_path)
    same, warped = read(tmp_path / "same.tif")[0], read(tmp_path / "warped.tif")[0]
    inner = (slice(None), slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    # twice resampled MS: close to the direct run, not equal
    assert np.median(np.abs(warped[inner] - same[inner]) / same[inner]) < 0.05


@pytest.fixture
def bad_inputs(wv2, shared_data, tmp_path):
    ms, pan = load_pair(shared_data, "WV2")
    far = list(geotransform(2.0))
    far[0] += 1e5
    return {
        "pan": wv2[0], "ms": wv2[1],
        "far": write_geotiff(tmp_path / "far.tif", ms.astype(np.uint16), tuple(far)),
        "odd_ratio": write_geotiff(tmp_path / "odd.tif", ms.astype(np.uint16), geotransform(1.7)),
        "four_bands": write_geotiff(tmp_path / "four.tif", ms[[1, 2, 4, 6]].astype(np.uint16),
                                    geotransform(2.0)),
    }


@pytest.mark.parametrize("pan,ms,method,message", [
    ("ms", "ms", "gsa", "has 8 bands; pansharpening needs a single-band panchromatic raster"),
    ("pan", "far", "gsa", "do not overlap"),
    ("pan", "odd_ratio", "gsa", "not close to a whole number"),
    ("pan", "four_bands", "adwm_fusionnet", "the MS has 4 bands but this model was trained on 8"),
])
def test_bad_input_fails_with_a_clear_message(bad_inputs, tmp_path, profile, pan, ms, method, message):
    method_index = {**CLASSICAL, **ADWM}[method]
    result = pansharpen(bad_inputs[pan], bad_inputs[ms], tmp_path / "out.tif", method_index, "WV2",
                        profile, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "out.tif").exists()


def test_values_beyond_the_bit_depth_and_unit_reflectance_warn(wv2, shared_data, tmp_path, profile):
    pan_path, ms_path = wv2
    run = pansharpen(pan_path, ms_path, tmp_path / "gf2.tif", CLASSICAL["brovey"], "GF2", profile)
    assert "beyond the GF2 range 0..1023" in run.stdout + run.stderr
    ms, pan = load_pair(shared_data, "WV2")
    ms_r = write_geotiff(tmp_path / "ms_r.tif", (ms / 2047).astype(np.float32), geotransform(2.0))
    pan_r = write_geotiff(tmp_path / "pan_r.tif", (pan / 2047).astype(np.float32)[None],
                          geotransform(0.5))
    run = pansharpen(pan_r, ms_r, tmp_path / "r.tif", CLASSICAL["brovey"], "WV2", profile)
    assert "looks like reflectance already scaled to 0..1" in run.stdout + run.stderr
    assert np.isfinite(read(tmp_path / "r.tif")[0]).all()


def _csv(path):
    with open(path, newline="") as f:
        return {row["index"]: float(row["value"]) for row in csv.DictReader(f)}


def test_quality_full_resolution_matches_the_core_and_writes_html(wv2, shared_data, tmp_path, profile):
    pan_path, ms_path = wv2
    pansharpen(pan_path, ms_path, tmp_path / "gsa.tif", CLASSICAL["gsa"], "WV2", profile)
    run = qgis_process("run", "rsai:pansharpening_quality", "--", f"FUSED={tmp_path / 'gsa.tif'}",
                       f"MS={ms_path}", f"PAN={pan_path}", "MODE=0", f"SENSOR={SENSOR['WV2']}",
                       f"OUTPUT_TABLE={tmp_path / 'q.html'}", env=profile)
    ms, pan = load_pair(shared_data, "WV2")
    expected = metrics.full_resolution_indices(read(tmp_path / "gsa.tif")[0].astype(np.float64),
                                               ms, pan, 4, "WV2")
    html = (tmp_path / "q.html").read_text()
    for key, value in expected.items():
        assert f"{key}:\t{value:.6g}"[:len(key) + 7] in run.stdout  # number output
        assert f"<td>{key}</td><td>{value:.6f}</td>" in html
    assert 0 < expected["HQNR"] < 1


# The toolbox's figures for GSA on this pair under its own protocol (issue 11), Q2n and ERGAS.
TOOLBOX_GSA = {"Q2n": 0.8872, "ERGAS": 4.737}


@pytest.mark.parametrize("degradation,index", [("bicubic", None), ("mtf", 1)])
def test_quality_reduced_resolution_matches_the_core_and_writes_csv(wv2, shared_data, tmp_path, profile,
                                                                    degradation, index):
    pan_path, ms_path = wv2
    extra = [] if index is None else [f"PAN_DEGRADATION={index}"]  # default: the toolbox's
    run = qgis_process("run", "rsai:pansharpening_quality", "--", f"MS={ms_path}", f"PAN={pan_path}",
                       "MODE=1", f"METHOD={CLASSICAL['gsa']}", f"SENSOR={SENSOR['WV2']}",
                       f"OUTPUT_TABLE={tmp_path / 'q.csv'}", *extra, env=profile)
    ms, pan = load_pair(shared_data, "WV2")
    ms_r, pan_r, ref = metrics.reduced_resolution_pair(ms, pan, 4, "WV2", degradation)
    expected = metrics.reduced_resolution_indices(
        classical.pansharpen("gsa", ms_r, pan_r, 4, "WV2", phase="toolbox"), ref, 4)
    got = _csv(tmp_path / "q.csv")
    assert set(got) == set(expected)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=2e-6)
    protocol = quality.PROTOCOL_NAMES[degradation]
    assert protocol in run.stdout + run.stderr
    with open(tmp_path / "q.csv", newline="") as f:
        assert {row["protocol"] for row in csv.DictReader(f)} == {protocol}
    if degradation == "bicubic":
        assert abs(got["Q2n"] - TOOLBOX_GSA["Q2n"]) < 0.005 and abs(got["ERGAS"] - TOOLBOX_GSA["ERGAS"]) < 0.05


def test_quality_full_resolution_refuses_fused_off_the_pan_grid(wv2, tmp_path, profile):
    pan_path, ms_path = wv2
    pansharpen(pan_path, ms_path, tmp_path / "gsa.tif", CLASSICAL["gsa"], "WV2", profile)
    fused, _ = read(tmp_path / "gsa.tif")
    moved = list(geotransform(0.5))
    moved[3] -= 0.5  # one PAN pixel south
    shifted = write_geotiff(tmp_path / "shifted.tif", fused, tuple(moved))
    run = qgis_process("run", "rsai:pansharpening_quality", "--", f"FUSED={shifted}",
                       f"MS={ms_path}", f"PAN={pan_path}", "MODE=0", f"SENSOR={SENSOR['WV2']}",
                       f"OUTPUT_TABLE={tmp_path / 'q.csv'}", env=profile, check=False)
    assert run.returncode != 0
    assert "is not on the PAN grid" in run.stdout + run.stderr
    assert "+0.00 columns, +1.00 rows off" in run.stdout + run.stderr
    assert not (tmp_path / "q.csv").exists()


def test_ms_nodata_border_is_nodata_in_the_output(shared_data, tmp_path, profile):
    """An MS with nodata 0 on its outer 20 pixels: nodata (-9999) there in the output, the rest
    as the fusion of the valid part alone."""
    ms, pan = load_pair(shared_data, "WV2")
    ms, pan = ms[:, :160, :160], pan[:640, :640]
    b = 20
    framed = ms.copy()
    framed[:, :b], framed[:, -b:], framed[:, :, :b], framed[:, :, -b:] = 0, 0, 0, 0
    pan_path = write_geotiff(tmp_path / "pan.tif", pan[None].astype(np.uint16), geotransform(0.5))
    ms_path = write_geotiff(tmp_path / "ms.tif", framed.astype(np.uint16), geotransform(2.0), nodata=0)
    pansharpen(pan_path, ms_path, tmp_path / "out.tif", CLASSICAL["mtf_glp_hpm"], "WV2", profile)
    out, ds = read(tmp_path / "out.tif")
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    border = np.ones(pan.shape, bool)
    border[4 * b:-4 * b, 4 * b:-4 * b] = False
    assert nodata == -9999 and (out[:, border] == nodata).all() and (out[:, ~border] != nodata).all()
    inside = classical.pansharpen("mtf_glp_hpm", ms[:, b:-b, b:-b], pan[4 * b:-4 * b, 4 * b:-4 * b], 4, "WV2")
    got = out[:, 4 * b:-4 * b, 4 * b:-4 * b]
    assert np.median(np.abs(got - inside) / np.maximum(inside, 1.0)) < 0.01


def test_graphical_model_chains_pansharpen_into_quality(wv2, shared_data, tmp_path, profile):
    pan_path, ms_path = wv2
    model3 = EXAMPLE_MODELS / "pansharpen_then_quality.model3"
    qgis_process("run", str(model3), "--", f"PAN={pan_path}", f"MS={ms_path}",
                 f"pansharpen:fused={tmp_path / 'fused.tif'}",
                 f"quality:table={tmp_path / 'table.csv'}", env=profile)
    assert_on_pan_grid(tmp_path / "fused.tif", pan_path)
    ms, pan = load_pair(shared_data, "WV2")
    expected = metrics.full_resolution_indices(read(tmp_path / "fused.tif")[0].astype(np.float64),
                                               ms, pan, 4, "WV2")
    got = _csv(tmp_path / "table.csv")
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=2e-6)
