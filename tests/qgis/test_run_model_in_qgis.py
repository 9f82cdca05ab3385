"""rsai:run_model inside QGIS's own Processing framework, as the Toolbox dialog runs it."""

import json

import pytest
from qgis.core import (QgsPalettedRasterRenderer, QgsProcessingContext, QgsProcessingFeedback,
                       QgsProject)

from helpers import conv_onnx, landcover_geotiff

CARD = {"id": "in-qgis", "task": "segmentation", "format": "onnx", "licence": "CC0-1.0",
        "inputs": {"bands": [f"b{i}" for i in range(13)], "tile_size": 64, "overlap": 8},
        "outputs": {"classes": [{"value": 0, "name": "water", "color": "#0000ff"},
                                {"value": 1, "name": "forest", "color": "#00aa00"},
                                {"value": 2, "name": "crops", "color": "#ffcc00"}]}}


def test_dialog_run_loads_a_styled_layer_into_the_project(provider, tmp_path, shared_data):
    import processing

    tif = landcover_geotiff(shared_data, tmp_path / "landcover.tif")
    conv_onnx(tmp_path / "m.onnx", 13, 3, metadata={"rsai_card": json.dumps(CARD)})
    results = processing.runAndLoadResults("rsai:run_model", {
        "INPUT": str(tif), "MODEL": str(tmp_path / "m.onnx"), "DEVICE": 1,
        "OUTPUT": str(tmp_path / "classes.tif")})
    layer = QgsProject.instance().mapLayer(results["OUTPUT"]) or next(
        l for l in QgsProject.instance().mapLayers().values() if l.source() == results["OUTPUT"])
    renderer = layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert [(c.value, c.label, c.color.name()) for c in renderer.classes()] == [
        (0, "water", "#0000ff"), (1, "forest", "#00aa00"), (2, "crops", "#ffcc00")]
    assert layer.crs().authid() == "EPSG:32633"
    QgsProject.instance().removeAllMapLayers()


class CancelAfterFirstProgress(QgsProcessingFeedback):
    def setProgress(self, progress):
        super().setProgress(progress)
        if progress > 10:
            self.cancel()


def test_cancel_in_the_dialog_stops_and_leaves_no_output(provider, tmp_path, shared_data):
    import processing
    from qgis.core import QgsProcessingException

    tif = landcover_geotiff(shared_data, tmp_path / "landcover.tif")
    conv_onnx(tmp_path / "m.onnx", 13, 3, metadata={"rsai_card": json.dumps(CARD)})
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("rsai:run_model", {
            "INPUT": str(tif), "MODEL": str(tmp_path / "m.onnx"), "TILE_SIZE": 20, "OVERLAP": 2,
            "OUTPUT": str(tmp_path / "classes.tif")},
            context=QgsProcessingContext(), feedback=CancelAfterFirstProgress())
    assert not (tmp_path / "classes.tif").exists()
    assert not list(tmp_path.glob("*partial*"))
