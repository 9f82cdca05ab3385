"""Outputs that are inputs or other outputs, in every spelling, refused before any work."""

import os

import pytest

from badinput_data import class_raster, model, pan_ms, polygons, raster

SAME_AS_INPUT = ("same file as an input", "choose another file")
SAME_OUTPUTS = ("same file", "give .* its own file name")


@pytest.fixture
def scene(work):
    return {"input": raster(work / "input.tif"), "model": model(work / "model.onnx")}


def run_model(scene, **outputs):
    return {"INPUT": str(scene["input"]), "MODEL": str(scene["model"]), "DEVICE": 1, **outputs}


@pytest.mark.parametrize("spelling", [
    lambda work: str(work / "input.tif"),
    lambda work: "input.tif",  # relative to the working folder
    lambda work: str(work / "sub" / ".." / "input.tif"),
    lambda work: f"file://{work / 'input.tif'}",
    lambda work: str(work / "link.tif"),  # a symbolic link to the input
], ids=["absolute", "relative", "dotdot", "file-url", "symlink"])
def test_run_model_output_is_the_input(refused, work, scene, spelling, monkeypatch):
    monkeypatch.chdir(work)
    (work / "sub").mkdir()
    (work / "link.tif").symlink_to(work / "input.tif")
    refused("run_model", run_model(scene, OUTPUT=spelling(work)), *SAME_AS_INPUT)


def test_run_model_probabilities_is_the_input(refused, work, scene):
    refused("run_model", run_model(scene, OUTPUT=str(work / "classes.tif"),
                                   OUTPUT_PROBABILITIES=str(work / "input.tif")),
            *SAME_AS_INPUT)


def test_run_model_two_outputs_one_file(refused, work, scene):
    refused("run_model", run_model(scene, OUTPUT=str(work / "out.tif"),
                                   OUTPUT_PROBABILITIES=str(work / "sub" / ".." / "out.tif")),
            *SAME_OUTPUTS)


def test_run_model_probabilities_over_the_input_in_another_case_folder_spelling(refused, work,
                                                                               scene):
    refused("run_model", run_model(scene, OUTPUT=str(work / "c.tif"),
                                   OUTPUT_PROBABILITIES=str(work) + "//input.tif"),
            *SAME_AS_INPUT)


def test_run_model_output_is_the_model_file(refused, work, scene):
    refused("run_model", run_model(scene, OUTPUT=str(work / "model.onnx")),
            r"ends in \.onnx", r"change the extension to \.tif")


def test_run_model_output_is_a_folder(refused, work, scene):
    (work / "folder.tif").mkdir()
    refused("run_model", run_model(scene, OUTPUT=str(work / "folder.tif")),
            "existing folder", "give a file name inside it")


def test_run_model_output_jpg_refused(refused, work, scene):
    refused("run_model", run_model(scene, OUTPUT=str(work / "classes.jpg")),
            r"ends in \.jpg.*GeoTIFF|ends in \.jpg", r"change the extension to \.tif")


def test_run_model_output_without_extension_gets_tif(succeeds, work, scene):
    results = succeeds("run_model", run_model(scene, OUTPUT=str(work / "classes")),
                       [scene["input"], scene["model"]])
    assert results["OUTPUT"] == str(work / "classes.tif")
    assert (work / "classes.tif").is_file() and not (work / "classes").exists()


def test_run_model_extra_input_is_the_output(refused, work, scene):
    other = raster(work / "other.tif")
    refused("run_model", run_model(scene, EXTRA_INPUTS=[str(other)], OUTPUT=str(other)),
            "same file as an input, EXTRA_INPUTS", "choose another file")


# ---- bayes land cover -----------------------------------------------------------------------

def bayes_train(work, **changes):
    parameters = {"INPUT": str(raster(work / "image.tif")),
                  "TRAINING": str(polygons(work / "training.gpkg")), "CLASS_FIELD": "class",
                  "OUTPUT_MODEL": str(work / "model.json"),
                  "OUTPUT_REPORT": str(work / "report.html")}
    parameters.update(changes)
    return parameters


def test_bayes_model_over_the_training_geojson(refused, work):
    polygons(work / "training.json", driver="GeoJSON")
    refused("bayes_landcover_train", bayes_train(work, TRAINING=str(work / "training.json"),
                                                 OUTPUT_MODEL=str(work / "training.json")),
            *SAME_AS_INPUT)


def test_bayes_report_csv_over_an_input(refused, work):
    """The CSV written beside training.html must not be the training table training.csv."""
    polygons(work / "training.csv", driver="CSV")
    refused("bayes_landcover_train",
            bayes_train(work, TRAINING=str(work / "training.csv"),
                        OUTPUT_REPORT=str(work / "training.html")),
            r"OUTPUT_REPORT \(\.csv written beside it\).*same file as an input, TRAINING",
            "choose another file")


def test_bayes_model_and_report_in_a_folder(refused, work):
    (work / "model.json").mkdir()
    refused("bayes_landcover_train", bayes_train(work), "existing folder", "file name inside")


def test_bayes_report_wrong_extension(refused, work):
    refused("bayes_landcover_train", bayes_train(work, OUTPUT_REPORT=str(work / "report.pdf")),
            r"ends in \.pdf", r"change the extension to \.html")


# ---- farmland polygons ----------------------------------------------------------------------

def test_polygonize_into_a_geopackage_with_other_layers_keeps_them(succeeds, work):
    from helpers import geopackage_layers
    gpkg = polygons(work / "project.gpkg", layer="parcels", extra_layers=("roads",))
    before = geopackage_layers(gpkg)
    classes = class_raster(work / "classes.tif")
    succeeds("polygonize_fields", {
        "INPUT": str(classes), "OUTPUT": f"ogr:dbname='{gpkg}' table=\"fields\" (geom)"},
        [classes])
    after = geopackage_layers(gpkg)
    assert {k: after[k] for k in before} == before and after["fields"] > 0


def test_polygonize_refuses_the_users_layer_of_that_name(refused, work):
    gpkg = polygons(work / "project.gpkg", layer="fields", extra_layers=("roads",))
    classes = class_raster(work / "classes.tif")
    refused("polygonize_fields", {
        "INPUT": str(classes), "OUTPUT": f"ogr:dbname='{gpkg}' table=\"fields\" (geom)"},
        "did not write", "choose another output file|rename or delete")


def test_polygonize_output_shapefile_refused(refused, work):
    classes = class_raster(work / "classes.tif")
    refused("polygonize_fields", {"INPUT": str(classes), "OUTPUT": str(work / "fields.shp")},
            r"ends in \.shp", r"\.gpkg")


def test_polygonize_output_folder_refused(refused, work):
    classes = class_raster(work / "classes.tif")
    (work / "out.gpkg").mkdir()
    refused("polygonize_fields", {"INPUT": str(classes), "OUTPUT": str(work / "out.gpkg")},
            "existing folder", "file name inside")


# ---- pansharpening --------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["pan.tif", "ms.tif", "./ms.tif"])
def test_pansharpen_output_is_an_input(refused, work, target, monkeypatch):
    monkeypatch.chdir(work)
    pan, ms = pan_ms(work)
    refused("pansharpen", {"PAN": str(pan), "MS": str(ms), "METHOD": 0,
                           "OUTPUT": target}, *SAME_AS_INPUT)


def test_quality_table_wrong_extension(refused, work):
    pan, ms = pan_ms(work)
    refused("pansharpening_quality", {"PAN": str(pan), "MS": str(ms), "MODE": 1, "METHOD": 0,
                                      "OUTPUT_TABLE": str(work / "table.xlsx")},
            r"ends in \.xlsx", r"change the extension")
