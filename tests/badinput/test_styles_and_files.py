"""Styles, reports and model files: written whole under a temporary name, a user's .qml kept."""

import hashlib

from badinput_data import model, raster

from rsai_toolbox.processing_provider.styles import STYLE_MARKER


def _run_model(work, output):
    return {"INPUT": str(raster(work / "input.tif")), "MODEL": str(model(work / "model.onnx")),
            "DEVICE": 1, "OUTPUT": str(output)}


def test_a_users_qml_beside_the_output_is_kept(succeeds, work):
    user_qml = work / "classes.qml"
    user_qml.write_text("<!DOCTYPE qgis><qgis><!-- my careful style --></qgis>\n")
    digest = hashlib.sha256(user_qml.read_bytes()).hexdigest()
    succeeds("run_model", _run_model(work, work / "classes.tif"), [user_qml])
    assert hashlib.sha256(user_qml.read_bytes()).hexdigest() == digest
    assert (work / "classes.tif").is_file()


def test_our_own_qml_is_marked_and_replaced_by_the_next_run(succeeds, work):
    succeeds("run_model", _run_model(work, work / "classes.tif"), [])
    qml = work / "classes.qml"
    assert STYLE_MARKER in qml.read_text()
    qml.write_text(qml.read_text().replace("water", "WATER-EDITED"))
    succeeds("run_model", _run_model(work, work / "classes.tif"), [])
    assert "WATER-EDITED" not in qml.read_text() and STYLE_MARKER in qml.read_text()
    from qgis.core import QgsRasterLayer
    layer = QgsRasterLayer(str(work / "classes.tif"), "c", "gdal")
    message, ok = layer.loadNamedStyle(str(qml))
    assert ok, message
    assert [c.label for c in layer.renderer().classes()] == ["water", "forest", "crops"]


def test_a_bayes_model_and_report_leave_no_temporary_file(succeeds, work):
    from badinput_data import polygons
    image, training = raster(work / "image.tif"), polygons(work / "training.gpkg")
    succeeds("bayes_landcover_train", {
        "INPUT": str(image), "TRAINING": str(training), "CLASS_FIELD": "class",
        "OUTPUT_MODEL": str(work / "model.json"), "OUTPUT_REPORT": str(work / "report.html")},
        [image, training])
    # (QGIS itself may cache the input's histogram in image.tif.aux.xml when it loads the layer)
    names = sorted(p.name for p in work.iterdir() if not p.name.endswith(".aux.xml"))
    assert names == ["image.tif", "model.json", "report.csv", "report.html", "training.gpkg"]
