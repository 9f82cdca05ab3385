"""rsai:soil_train through real qgis_process on LimeSoDa's BB.250 samples: a 10 m Sentinel-2
GeoTIFF built from the samples' own band values, the samples as points (in WGS 84, so they are
reprojected), an altitude covariate on another CRS and grid; then bad inputs from issue 13."""

import csv
import json

import numpy as np
import onnxruntime as ort
import pytest

from helpers import qgis_process
from helpers_soil import columns, covariate_raster, grid, s2_raster, sample_points

N = 250


@pytest.fixture
def profile(tmp_path):
    return {"QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "qgis"),
            "RSAI_CACHE_DIR": str(tmp_path / "cache")}


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("soil_e2e")
    cols = columns(shared_data, "BB_250")
    gt, width, height = grid(cols)
    outside = [(gt[0] - 300, gt[3] + 300), (gt[0] + width * 10 + 200, gt[3])]
    on_nodata = [(gt[0] + 15, gt[3] - 15)]
    soc = list(cols["SOC_target"]) + [1.0] * 3
    return {
        "image": s2_raster(shared_data, "BB_250", folder / "s2.tif"),
        "altitude": covariate_raster(shared_data, "BB_250", "Altitude", folder / "alt.tif"),
        "points": sample_points(
            shared_data, "BB_250", folder / "samples.gpkg", epsg=4326,
            extra_xy=outside + on_nodata,
            extra={"SOC_shifted": [v - 0.6 for v in soc], "empty": [None] * (N + 3),
                   "constant": [1.0] * (N + 3), "label": ["a"] * (N + 3)}),
        "folder": folder}


def run(tmp_path, profile, inputs, *arguments, check=True):
    result = qgis_process(
        "--json", "run", "rsai:soil_train", "--", f"SAMPLES={inputs['points']}",
        f"INPUT={inputs['image']}", f"OUTPUT_MODEL={tmp_path / 'soil.onnx'}",
        f"OUTPUT_REPORT={tmp_path / 'soil.html'}", *arguments, env=profile, check=check)
    return result, (json.loads(result.stdout) if result.returncode == 0 else None)


def test_train_with_a_covariate_on_another_grid(tmp_path, profile, inputs):
    _, out = run(tmp_path, profile, inputs, "TARGET_FIELDS=pH_target",
                 "TARGET_FIELDS=SOC_shifted", "TARGET_UNITS=pH,%",
                 f"COVARIATES={inputs['altitude']}", "FEATURES=0,1,3", "ALGORITHM=0",
                 "TREES=60", "CV_BLOCK_SIZE=200", "CV_FOLDS=5")
    results = out["results"]
    assert results["SAMPLES_USED"] == N and results["SAMPLES_SKIPPED"] == 3
    log = " ".join(out["log"].get("errors", []))
    assert "2 of 253 samples skipped: outside the image" in log
    assert "1 of 253 samples skipped: on nodata in the image" in log
    assert "SOC_shifted: " in log and "negative values although the unit '%'" in log
    assert 0.3 < results["R2_pH_target"] < 1 and 0.6 < results["R2_SOC_shifted"] < 1
    assert results["R2"] == results["R2_pH_target"]
    for key in ("RMSE", "BIAS", "CCC", "COVERAGE"):
        assert results[key] == results[f"{key}_pH_target"]

    rows = {(r["section"], r["target"], r["name"]): r["value"]
            for r in csv.DictReader(open(results["OUTPUT_CSV"]))}
    assert float(rows[("score", "pH_target", "r2")]) == pytest.approx(results["R2"], rel=1e-5)
    assert float(rows[("score", "SOC_shifted", "rmse")]) == pytest.approx(
        results["RMSE_SOC_shifted"], rel=1e-5)
    page = (tmp_path / "soil.html").read_text()
    assert "spatial blocks of 200 m, 5 folds" in page and "3x3 window means" in page
    assert "covariate covariate_1 (band_1)" in page

    card = json.loads((tmp_path / "soil.json").read_text())
    assert card["task"] == "regression" and card["head"] == {"type": "pixel_table", "halo": 1}
    assert [i["name"] for i in card["inputs"]] == ["s2", "covariate_1"]
    assert card["inputs"][1]["title"] == "alt.tif"
    assert card["outputs"]["targets"] == [{"name": "pH_target", "unit": "pH"},
                                          {"name": "SOC_shifted", "unit": "%"}]
    assert card["training"]["crs"] == "EPSG:25833"
    assert card["training"]["scores"]["pH_target"]["r2"] == pytest.approx(results["R2"])
    session = ort.InferenceSession(str(tmp_path / "soil.onnx"),
                                   providers=["CPUExecutionProvider"])
    n_features = len(card["features"]["names"])
    assert n_features == 10 + 10 + 6 + 1
    low = np.asarray(card["extrapolation"]["feature_min"], np.float32)
    values, lower, upper = session.run(None, {"features": low[None]})
    half = card["intervals"]["half_widths"]
    np.testing.assert_allclose(values - lower, [[half["pH_target"], half["SOC_shifted"]]],
                               rtol=1e-5)


def test_given_folds_override_the_spatial_blocks(tmp_path, profile, inputs):
    _, out = run(tmp_path, profile, inputs, "TARGET_FIELDS=SOC_target", "FOLD_FIELD=fold",
                 "ALGORITHM=1", "TREES=50", "CV=1", "CV_FOLDS=3")
    card = json.loads((tmp_path / "soil.json").read_text())
    assert card["training"]["cross_validation"] == "10 given folds (field 'fold')"
    assert out["results"]["SAMPLES_USED"] == N


@pytest.mark.parametrize("arguments, message", [
    (["TARGET_FIELDS=empty"], "target field 'empty' has no value at the usable samples"),
    (["TARGET_FIELDS=constant"], "target field 'constant' has the same value (1) at every"),
    (["TARGET_FIELDS=label"], "target field 'label' is a String field, not a number"),
    (["TARGET_FIELDS=pH_target", "CV_BLOCK_SIZE=5000"],
     "the samples fall into only 2 blocks of 5000 m, fewer than the 5 folds"),
])
def test_bad_targets_and_folds_fail_clearly_and_leave_nothing(tmp_path, profile, inputs,
                                                              arguments, message):
    result, _ = run(tmp_path, profile, inputs, *arguments, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not list(tmp_path.glob("soil*"))


def test_bad_samples_and_covariates_fail_clearly(tmp_path, profile, inputs, shared_data):
    few = sample_points(shared_data, "BB_250", tmp_path / "few.gpkg", rows=range(12))
    duplicates = sample_points(shared_data, "BB_250", tmp_path / "dup.gpkg", rows=[0, 1, 2, 1])
    far = s2_raster(shared_data, "BB_72", tmp_path / "far.tif")
    cases = [
        ({"points": few}, ["CV_FOLDS=5"], "12 samples are fewer than the 16 features"),
        ({"points": few}, ["FEATURES=0", "CV=1", "CV_FOLDS=13"],
         "12 samples are fewer than the 13 CV folds"),
        ({"points": duplicates}, [], "1 samples lie at the same place as another"),
        ({}, [f"COVARIATES={far}"], "does not cover any sample"),
    ]
    for change, arguments, message in cases:
        result, _ = run(tmp_path, profile, {**inputs, **change}, "TARGET_FIELDS=pH_target",
                        *arguments, check=False)
        assert result.returncode != 0, message
        assert message in result.stdout + result.stderr
        assert not list(tmp_path.glob("soil*"))
