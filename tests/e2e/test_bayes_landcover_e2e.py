"""rsai:bayes_landcover_train and rsai:bayes_landcover_classify through real qgis_process on the
real Sentinel-2 patch and its labelled polygons."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

from helpers import (EXAMPLE_MODELS, landcover_geotiff, landcover_polygons, landcover_scene,
                     qgis_process, read, write_geotiff)

CLASSES = {1: "cultivated land", 2: "forest", 3: "grassland", 4: "schrubland",
           8: "artificial surface"}
PIXELS = 11 + 7601 + 1777 + 358 + 198  # pixels under labelled polygons (LULC_mask.npy)


@pytest.fixture
def profile(tmp_path):
    return {"QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "qgis"),
            "RSAI_CACHE_DIR": str(tmp_path / "cache")}


def run_json(tool, *arguments, env, check=True):
    result = qgis_process("--json", "run", tool, "--", *arguments, env=env, check=check)
    return result, (json.loads(result.stdout) if result.returncode == 0 else None)


def train(tmp_path, profile, scene, vector, *extra, name="model"):
    _, out = run_json("rsai:bayes_landcover_train", f"INPUT={scene}", f"TRAINING={vector}",
                      f"OUTPUT_MODEL={tmp_path / name}.json",
                      f"OUTPUT_REPORT={tmp_path / name}.html", *extra, env=profile)
    return out


@pytest.fixture
def scene(tmp_path, shared_data):
    return landcover_geotiff(shared_data, tmp_path / "scene.tif")


def test_train_then_classify_on_the_real_patch(tmp_path, shared_data, scene, profile):
    out = train(tmp_path, profile, scene, landcover_polygons(shared_data),
                "CLASS_FIELD=LULC_ID", "NAME_FIELD=LULC_NAME")
    results = out["results"]
    assert results["TRAIN_PIXELS"] + results["TEST_PIXELS"] == PIXELS
    assert 0.8 < results["OVERALL_ACCURACY"] <= 1 and 0.5 < results["KAPPA"] <= 1
    assert 0 < results["LOG_LOSS"] < 1.5 and 0 <= results["ECE"] < 0.2
    warnings = " ".join(out["log"].get("warning", []))  # the feedback's warning channel
    assert "4 of 88 features have class 0" in warnings and "'cultivated land'" in warnings
    assert not out["log"].get("errors")

    model = json.loads((tmp_path / "model.json").read_text())
    assert model["format"] == "rsai-bayes-qda" and len(model["bands"]) == 13
    assert {c["id"]: c["name"] for c in model["classes"]} == CLASSES
    assert all(len(c["mean"]) == 13 and np.shape(c["psi"]) == (13, 13) for c in model["classes"])
    assert model["prior"]["strength"] == 20
    assert model["training"]["test_scores"][0]["overall_accuracy"] == pytest.approx(
        results["OVERALL_ACCURACY"])

    page = (tmp_path / "model.html").read_text()
    for row in ("Bayesian QDA", "QDA (scikit-learn)", "RandomForest (scikit-learn)"):
        assert f"<tr><td>{row}</td>" in page
    assert page.count("data:image/png;base64,") >= 4 and "Reliability diagram" in page
    rows = list(csv.DictReader((tmp_path / "model.csv").open()))
    ece = [r for r in rows if r["method"] == "Bayesian QDA" and r["metric"] == "ece"]
    assert float(ece[0]["value"]) == pytest.approx(results["ECE"], rel=1e-5)

    # a NaN pixel must come out as nodata in every output
    image = landcover_scene(shared_data)
    image[:, 10, 20] = np.nan
    image[4, 30, 40] = np.nan
    holes = write_geotiff(tmp_path / "holes.tif", image, descriptions=model["bands"])
    _, out = run_json("rsai:bayes_landcover_classify", f"INPUT={holes}",
                      f"MODEL={tmp_path / 'model.json'}", f"OUTPUT={tmp_path / 'classes.tif'}",
                      f"OUTPUT_PROBABILITIES={tmp_path / 'p.tif'}",
                      f"OUTPUT_UNCERTAINTY={tmp_path / 'u.tif'}", env=profile)
    assert out["results"]["CLASSIFIED_PIXELS"] == 101 * 100 - 2
    classes, cds = read(tmp_path / "classes.tif")
    source = gdal.Open(str(holes))
    assert cds.GetGeoTransform() == pytest.approx(source.GetGeoTransform())
    assert cds.GetSpatialRef().IsSame(source.GetSpatialRef())
    band = cds.GetRasterBand(1)
    assert band.GetDescription() == "class"
    assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() == 255
    names = band.GetCategoryNames()
    assert {c: names[c] for c in CLASSES} == CLASSES
    assert band.GetColorTable().GetColorEntry(8)[:3] == tuple(
        int(model["classes"][4]["colour"][i:i + 2], 16) for i in (1, 3, 5))
    qml = (tmp_path / "classes.qml").read_text()
    assert "paletted" in qml and all(f'label="{n}"' in qml for n in CLASSES.values())
    assert classes[10, 20] == 255 and classes[30, 40] == 255
    assert set(np.unique(classes)) <= set(CLASSES) | {255}

    proba, pds = read(tmp_path / "p.tif")
    assert [pds.GetRasterBand(i + 1).GetDescription() for i in range(5)] == list(
        CLASSES.values())
    valid = classes != 255
    np.testing.assert_allclose(proba[:, valid].sum(axis=0), 1.0, atol=1e-5)
    assert np.all(proba[:, ~valid] == -9999)
    assert np.array_equal(np.array(list(CLASSES))[proba[:, valid].argmax(0)], classes[valid])
    unc, uds = read(tmp_path / "u.tif")
    assert [uds.GetRasterBand(i + 1).GetDescription() for i in range(3)] == [
        "entropy", "1 - max probability", "margin top1 - top2"]
    np.testing.assert_allclose(unc[1, valid], 1 - proba[:, valid].max(0), atol=1e-6)
    assert np.all(unc[:, ~valid] == -9999)


def test_reprojected_polygons_give_the_same_samples(tmp_path, shared_data, scene, profile):
    wgs84 = tmp_path / "lulc_4326.gpkg"
    gdal.VectorTranslate(str(wgs84), str(landcover_polygons(shared_data)), dstSRS="EPSG:4326")
    native = train(tmp_path, profile, scene, landcover_polygons(shared_data),
                   "CLASS_FIELD=LULC_ID", name="native")["results"]
    reprojected = train(tmp_path, profile, scene, wgs84, "CLASS_FIELD=LULC_ID",
                        name="wgs84")["results"]
    total = native["TRAIN_PIXELS"] + native["TEST_PIXELS"]
    # polygon edges bend slightly in EPSG:4326: a pixel centre or two may change sides
    assert abs(reprojected["TRAIN_PIXELS"] + reprojected["TEST_PIXELS"] - total) <= 0.01 * total


def test_text_class_field_maps_names(tmp_path, shared_data, scene, profile):
    out = train(tmp_path, profile, scene, landcover_polygons(shared_data),
                "CLASS_FIELD=LULC_NAME")
    assert out["results"]["TRAIN_PIXELS"] + out["results"]["TEST_PIXELS"] == PIXELS
    model = json.loads((tmp_path / "model.json").read_text())
    assert [(c["id"], c["name"]) for c in model["classes"]] == list(enumerate(
        sorted(CLASSES.values()), start=1))
    run_json("rsai:bayes_landcover_classify", f"INPUT={scene}", f"MODEL={tmp_path / 'model.json'}",
             f"OUTPUT={tmp_path / 'classes.tif'}", env=profile)
    _, dataset = read(tmp_path / "classes.tif")  # keep the dataset alive while using its band
    band = dataset.GetRasterBand(1)
    # GDAL 3.6's GTiff reads the .aux.xml lazily; GetCategoryNames alone does not trigger it
    assert band.GetDescription() == "class"
    names = band.GetCategoryNames()
    assert names[1:6] == sorted(CLASSES.values())


def test_relative_sigma_at_training_and_prediction(tmp_path, shared_data, scene, profile):
    polygons = landcover_polygons(shared_data)
    out = train(tmp_path, profile, scene, polygons, "CLASS_FIELD=LULC_ID", "UNCERTAINTY_SIGMA=5%")
    assert out["results"]["TRAIN_PIXELS"] + out["results"]["TEST_PIXELS"] == PIXELS
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["training"]["noise_corrected"] is True
    for name, sigma in (("plain", []), ("noisy", ["UNCERTAINTY_SIGMA=5%"])):
        run_json("rsai:bayes_landcover_classify", f"INPUT={scene}",
                 f"MODEL={tmp_path / 'model.json'}", f"OUTPUT={tmp_path / name}.tif",
                 f"OUTPUT_PROBABILITIES={tmp_path / name}_p.tif", *sigma, env=profile)
    plain = read(tmp_path / "plain_p.tif")[0]
    noisy = read(tmp_path / "noisy_p.tif")[0]
    np.testing.assert_allclose(noisy.sum(axis=0), 1.0, atol=1e-5)
    # the per-pixel sigma (5 % of each value) changes the probabilities, not only their order
    assert np.abs(noisy - plain).max() > 0.05


def test_classify_with_another_band_count_fails_clearly(tmp_path, shared_data, scene, profile):
    train(tmp_path, profile, scene, landcover_polygons(shared_data), "CLASS_FIELD=LULC_ID")
    twelve = write_geotiff(tmp_path / "twelve.tif", landcover_scene(shared_data)[:12])
    result, _ = run_json("rsai:bayes_landcover_classify", f"INPUT={twelve}",
                         f"MODEL={tmp_path / 'model.json'}", f"OUTPUT={tmp_path / 'c.tif'}",
                         env=profile, check=False)
    assert result.returncode != 0
    assert "has 12 bands but the model was trained on 13" in result.stdout + result.stderr
    assert not (tmp_path / "c.tif").exists()


def test_graphical_model_chains_train_into_classify(tmp_path, shared_data, scene, profile):
    model3 = EXAMPLE_MODELS / "bayes_train_then_classify.model3"
    qgis_process("run", str(model3), "--", f"INPUT={scene}",
                 f"TRAINING={landcover_polygons(shared_data)}", "CLASS_FIELD=LULC_ID",
                 f"classify:classes={tmp_path / 'chained.tif'}", env=profile)
    classes, out = read(tmp_path / "chained.tif")
    assert classes.shape == (101, 100) and set(np.unique(classes)) <= set(CLASSES)
    assert out.GetRasterBand(1).GetColorTable() is not None
    assert (tmp_path / "chained.qml").exists()
