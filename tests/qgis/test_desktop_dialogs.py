"""What the tool dialogs offer and what a dialog run leaves in the project: the MODEL drop-down
of known cards (the modeler keeps its own widget), warnings on the warning channel, progress
that ends at 100%, layers named after the model with the probabilities below the classes."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import (QgsProcessingContext, QgsProcessingFeedback, QgsProcessingModelAlgorithm,
                       QgsProject, QgsSingleBandPseudoColorRenderer)
from qgis.gui import QgsProcessingModelerParameterWidget

from rsai_toolbox.processing_provider.model_widget import ModelWidgetWrapper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desktop_support import REPO, desktop, screenshot  # noqa: E402,F401
from helpers import conv_onnx  # noqa: E402

CARD = {"id": "dialog-test", "title": "Dialog test model", "task": "segmentation",
        "format": "onnx", "licence": "CC0-1.0",
        "inputs": {"bands": ["red", "green", "blue"], "tile_size": 32, "overlap": 4},
        "outputs": {"classes": [{"value": 0, "name": "water", "color": "#0000ff"},
                                {"value": 1, "name": "land", "color": "#00aa00"}]}}


@pytest.fixture
def plugin(desktop, tmp_path, monkeypatch):
    monkeypatch.setenv("RSAI_CACHE_DIR", str(tmp_path / "cache"))
    return desktop


def raster(path: Path, values: np.ndarray, nodata: float | None = None) -> Path:
    driver = gdal.GetDriverByName("GTiff")
    ds = driver.Create(str(path), values.shape[2], values.shape[1], values.shape[0],
                       gdal.GDT_Float32)
    ds.SetGeoTransform((500000, 10, 0, 5300000, 0, -10))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(values):
        ds.GetRasterBand(i + 1).WriteArray(band)
        if nodata is not None:
            ds.GetRasterBand(i + 1).SetNoDataValue(nodata)
    ds = None
    return path


def test_model_is_a_drop_down_of_the_known_cards(plugin):
    import processing

    dialog = processing.createAlgorithmDialog("rsai:farmland_segmentation")
    wrapper = dialog.mainWidget().wrappers["MODEL"]
    assert isinstance(wrapper, ModelWidgetWrapper)
    ids = [wrapper.combo.itemData(i) for i in range(wrapper.combo.count())]
    assert sorted(ids) == ["ftw-2class", "ftw-3class"]  # segmentation cards only, no ADWM
    assert dialog.createProcessingParameters()["MODEL"] == "ftw-3class"  # the default
    wrapper.combo.setCurrentIndex(ids.index("ftw-2class"))
    assert dialog.createProcessingParameters()["MODEL"] == "ftw-2class"
    wrapper.setValue("/data/my model.onnx")  # what the file button sets; typing works alike
    assert dialog.createProcessingParameters()["MODEL"] == "/data/my model.onnx"
    screenshot(dialog, "tool_farmland_segmentation")
    dialog.close()


def test_the_modeler_keeps_its_own_model_widget(plugin):
    """In the modeler MODEL must still take another step's output (download -> run)."""
    from processing.modeler.ModelerParametersDialog import ModelerParametersDialog

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(REPO / "resources" / "models" / "download_then_run.model3"))
    child = model.childAlgorithm("run")
    dialog = ModelerParametersDialog(child.algorithm(), model, "run")
    wrapper = dialog.widget.widget.wrappers["MODEL"]
    assert isinstance(wrapper, QgsProcessingModelerParameterWidget)
    source = wrapper.value()
    source = source[0] if isinstance(source, list) else source
    assert (source.outputChildId(), source.outputName()) == ("download", "MODEL")
    dialog.close()


class Recorder(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.warnings, self.errors, self.progress_values = [], [], []

    def pushWarning(self, text):
        self.warnings.append(text)
        super().pushWarning(text)

    def reportError(self, text, fatalError=False):
        self.errors.append(text)
        super().reportError(text, fatalError)

    def setProgress(self, value):
        self.progress_values.append(value)
        super().setProgress(value)


def test_warnings_reach_the_warning_channel_and_progress_ends_at_100(plugin, tmp_path):
    import processing

    conv_onnx(tmp_path / "m.onnx", 3, 2, metadata={"rsai_card": json.dumps(CARD)})
    empty = raster(tmp_path / "empty.tif", np.full((3, 40, 40), -1, np.float32), nodata=-1)
    feedback = Recorder()
    processing.run("rsai:run_model", {"INPUT": str(empty), "MODEL": str(tmp_path / "m.onnx"),
                                      "DEVICE": 1, "OUTPUT": str(tmp_path / "out.tif")},
                   feedback=feedback)
    assert any("every pixel" in w and "nodata" in w for w in feedback.warnings), feedback.warnings
    assert not feedback.errors
    assert not any(w.startswith("Warning") for w in feedback.warnings)
    assert feedback.progress_values[-1] == 100


def test_dialog_run_names_layers_and_puts_probabilities_below_classes(plugin, tmp_path):
    import processing

    conv_onnx(tmp_path / "m.onnx", 3, 2, metadata={"rsai_card": json.dumps(CARD)})
    scene = raster(tmp_path / "scene.tif", np.random.default_rng(0).random((3, 50, 60),
                                                                           np.float32))
    project = QgsProject.instance()
    project.removeAllMapLayers()
    results = processing.runAndLoadResults("rsai:run_model", {
        "INPUT": str(scene), "MODEL": str(tmp_path / "m.onnx"), "DEVICE": 1,
        "OUTPUT": "TEMPORARY_OUTPUT", "OUTPUT_PROBABILITIES": "TEMPORARY_OUTPUT"},
        context=QgsProcessingContext())
    try:
        order = [node.layer() for node in project.layerTreeRoot().findLayers()]
        names = [layer.name() for layer in order]
        assert names == ["Classes (Dialog test model)", "Class probabilities (Dialog test model)"]
        probabilities = order[1]
        assert probabilities.source() == results["OUTPUT_PROBABILITIES"]
        renderer = probabilities.renderer()
        assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)  # never an RGB composite
        assert (renderer.band(), renderer.classificationMin(), renderer.classificationMax()) == (
            1, 0.0, 1.0)
        for output in (results["OUTPUT"], results["OUTPUT_PROBABILITIES"]):
            assert Path(output).with_suffix(".qml").is_file()
    finally:
        project.removeAllMapLayers()


def test_without_network_a_model_tool_fails_at_once_and_says_how_to_give_weights(
        plugin, tmp_path, shared_data, monkeypatch):
    """No cached weights and no network: the prefetch message in under 2 s (it took 24 s and
    suggested a parameter the tool did not have), naming this tool's WEIGHTS parameter."""
    import time

    import processing
    from qgis.core import QgsProcessingException

    monkeypatch.setenv("HF_ENDPOINT", "https://rsai-no-such-host.invalid")
    stack = shared_data / "farmland" / "ftw_s2_bitemporal_austria.tif"
    start = time.monotonic()
    with pytest.raises(QgsProcessingException) as error:
        processing.run("rsai:farmland_segmentation", {
            "INPUT": str(stack), "MODEL": "ftw-3class", "DEVICE": 1,
            "OUTPUT": str(tmp_path / "fields.tif")}, feedback=Recorder())
    elapsed = time.monotonic() - start
    message = str(error.value)
    assert elapsed < 2.0, f"took {elapsed:.1f} s"
    assert "cannot be reached" in message and "rsai:download_model" in message
    assert "give it as WEIGHTS" in message
    assert not (tmp_path / "fields.tif").exists()
