"""rsai:soil_train through real qgis_process on LimeSoDa's BB.250 samples: a 10 m Sentinel-2
GeoTIFF built from the samples' own band values, the samples as points (in WGS 84, so they are
reprojected), an altitude covariate on another CRS and grid; then bad inputs from issue 13."""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from osgeo import gdal, ogr

from helpers import EXAMPLE_MODELS, qgis_process, read, write_geotiff
from helpers_soil import (columns, covariate_raster, grid, pixel_of, s2_raster,
                          sample_points)

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
    log = " ".join(out["log"].get("warning", []))  # the feedback's warning channel
    assert not out["log"].get("errors")
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
    assert card["outputs"][0] == {"name": "values",
                                  "targets": [{"name": "pH_target", "unit": "pH"},
                                              {"name": "SOC_shifted", "unit": "%"}]}
    method = card["method"]
    assert method["training"]["crs"] == "EPSG:25833"
    assert method["training"]["scores"]["pH_target"]["r2"] == pytest.approx(results["R2"])
    session = ort.InferenceSession(str(tmp_path / "soil.onnx"),
                                   providers=["CPUExecutionProvider"])
    n_features = len(method["features"]["names"])
    assert n_features == 10 + 10 + 6 + 1
    low = np.asarray(method["extrapolation"]["feature_min"], np.float32)
    values, lower, upper = session.run(["values", "lower", "upper"], {"features": low[None]})
    half = method["intervals"]["half_widths"]
    np.testing.assert_allclose(values - lower, [[half["pH_target"], half["SOC_shifted"]]],
                               rtol=1e-5)


def test_given_folds_override_the_spatial_blocks(tmp_path, profile, inputs):
    _, out = run(tmp_path, profile, inputs, "TARGET_FIELDS=SOC_target", "FOLD_FIELD=fold",
                 "ALGORITHM=1", "TREES=50", "CV=1", "CV_FOLDS=3")
    card = json.loads((tmp_path / "soil.json").read_text())
    assert card["method"]["training"]["cross_validation"] == "10 given folds (field 'fold')"
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
        ({}, [f"COVARIATES={far}"], "far.tif and the s2 raster"),  # ... do not overlap
    ]
    for change, arguments, message in cases:
        result, _ = run(tmp_path, profile, {**inputs, **change}, "TARGET_FIELDS=pH_target",
                        *arguments, check=False)
        assert result.returncode != 0, message
        assert message in result.stdout + result.stderr
        assert not list(tmp_path.glob("soil*"))


def predict(tmp_path, profile, *arguments, check=True):
    result = qgis_process("--json", "run", "rsai:soil_predict", "--", *arguments, env=profile,
                          check=check)
    return result, (json.loads(result.stdout) if result.returncode == 0 else None)


def test_predict_maps_and_points_with_the_trained_model(tmp_path, profile, inputs,
                                                        shared_data):
    run(tmp_path, profile, inputs, "TARGET_FIELDS=pH_target", "TARGET_FIELDS=SOC_target",
        "TARGET_UNITS=pH,%", f"COVARIATES={inputs['altitude']}", "FEATURES=0,1,3",
        "ALGORITHM=1", "TREES=40", "CV_BLOCK_SIZE=200", "CV_FOLDS=5")
    before = hashlib.sha256(inputs["points"].read_bytes()).hexdigest()
    _, out = predict(tmp_path, profile, f"INPUT={inputs['image']}",
                     f"MODEL={tmp_path / 'soil.onnx'}", f"COVARIATES={inputs['altitude']}",
                     f"OUTPUT={tmp_path / 'map.tif'}", f"OUTPUT_INTERVAL={tmp_path / 'int.tif'}",
                     f"OUTPUT_EXTRAPOLATION={tmp_path / 'flag.tif'}",
                     f"POINTS={inputs['points']}", f"OUTPUT_POINTS={tmp_path / 'pts.gpkg'}")
    results = out["results"]
    assert hashlib.sha256(inputs["points"].read_bytes()).hexdigest() == before
    assert results["PREDICTED_POINTS"] == N and results["EXTRAPOLATED_POINTS"] == 0
    assert results["PREDICTED_PIXELS"] == N  # the image holds values at the samples only

    values, dataset = read(tmp_path / "map.tif")
    bands = [dataset.GetRasterBand(i + 1) for i in range(2)]
    assert [b.GetDescription() for b in bands] == ["pH_target (pH)", "SOC_target (%)"]
    assert bands[0].GetNoDataValue() == -9999
    assert dataset.GetGeoTransform() == gdal.Open(str(inputs["image"])).GetGeoTransform()
    assert (tmp_path / "map.qml").exists()
    interval, idataset = read(tmp_path / "int.tif")
    assert [idataset.GetRasterBand(i + 1).GetDescription() for i in range(4)] == [
        "pH_target lower (pH)", "pH_target upper (pH)", "SOC_target lower (%)",
        "SOC_target upper (%)"]
    flags, _ = read(tmp_path / "flag.tif")

    source = ogr.Open(str(tmp_path / "pts.gpkg"))
    layer = source.GetLayer(0)
    assert layer.GetFeatureCount() == N + 3
    rows = [(f["pH_target_pred"], f["SOC_target_pred"], f["pH_target_lower"],
             f["extrapolated"], f["skip_reason"]) for f in layer]
    source = None
    cols = columns(shared_data, "BB_250")
    col, row = pixel_of(cols, grid(cols)[0])
    predicted = np.array([r[:4] for r in rows[:N]], np.float64)
    np.testing.assert_allclose(values[0, row, col], predicted[:, 0], rtol=1e-6)
    np.testing.assert_allclose(values[1, row, col], predicted[:, 1], rtol=1e-6)
    np.testing.assert_allclose(interval[0, row, col], predicted[:, 2], rtol=1e-6)
    assert (flags[row, col] == 0).all() and (predicted[:, 3] == 0).all()
    assert [r[4] for r in rows[N:]] == ["outside the image"] * 2 + ["on nodata in the image"]
    assert all(r[0] is None for r in rows[N:])


def test_predict_refuses_an_image_with_other_bands_and_run_model_a_soil_model(tmp_path, profile, inputs, shared_data):
    run(tmp_path, profile, inputs, "TARGET_FIELDS=pH_target", "ALGORITHM=1", "TREES=30")
    image, dataset = read(inputs["image"])
    names = [dataset.GetRasterBand(i + 1).GetDescription() for i in range(len(image))]
    fewer = write_geotiff(tmp_path / "fewer.tif", image[:8], dataset.GetGeoTransform(), 25833,
                          nodata=0, descriptions=names[:8])
    result, _ = predict(tmp_path, profile, f"INPUT={fewer}", f"MODEL={tmp_path / 'soil.onnx'}",
                        f"OUTPUT={tmp_path / 'map.tif'}", check=False)
    assert result.returncode != 0
    assert "missing: B11, B12" in result.stdout + result.stderr
    assert not (tmp_path / "map.tif").exists()
    # the generic tool cannot compute a soil model's features and says which tool can
    result = qgis_process("run", "rsai:run_model", "--", f"INPUT={inputs['image']}",
                          f"MODEL={tmp_path / 'soil.onnx'}", f"OUTPUT={tmp_path / 'map.tif'}",
                          env=profile, check=False)
    assert result.returncode != 0
    assert "run it with its method's tool (rsai:soil_predict)" in result.stdout + result.stderr
    assert not (tmp_path / "map.tif").exists()


def test_graphical_model_chains_train_into_predict(tmp_path, profile, inputs):
    model3 = EXAMPLE_MODELS / "soil_train_then_predict.model3"
    qgis_process("run", str(model3), "--", f"INPUT={inputs['image']}",
                 f"SAMPLES={inputs['points']}", "TARGET_FIELDS=pH_target",
                 f"predict:soil={tmp_path / 'chained.tif'}",
                 f"predict:interval={tmp_path / 'chained_interval.tif'}", env=profile)
    values, dataset = read(tmp_path / "chained.tif")
    assert dataset.GetRasterBand(1).GetDescription() == "pH_target"
    valid = values != -9999
    assert valid.sum() == N and 4 < values[valid].min() < values[valid].max() < 8
    interval, _ = read(tmp_path / "chained_interval.tif")
    assert (interval[0][valid] < values[valid]).all() and (values[valid] < interval[1][valid]).all()
