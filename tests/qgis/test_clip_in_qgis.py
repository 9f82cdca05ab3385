"""The CLIP tools inside QGIS's own Processing framework, as the Toolbox dialog runs them: the
index goes into the layer named with "Save to GeoPackage" beside the user's layers, the dialog
loads that very layer styled, and a loaded index layer is searched and classified."""

import gc
import sys
from pathlib import Path

import numpy as np
import pytest
from qgis.core import (QgsGraduatedSymbolRenderer, QgsPalettedRasterRenderer, QgsProject,
                       QgsSingleSymbolRenderer, QgsVectorLayer)


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import write_geotiff  # noqa: E402
from helpers_clip import long_clip_layout, save_checkpoint, tiny_state_dict, write_card  # noqa: E402

GT = (500000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0)


@pytest.fixture
def provider(provider):
    """The shared provider (tests/conftest.py); the project emptied of this test's layers."""
    yield provider
    QgsProject.instance().removeAllMapLayers()
    # Layers referenced from a caught exception's frames would otherwise outlive QGIS and
    # crash the interpreter at exit (QgsVectorLayer's destructor after exitQgis).
    gc.collect()


@pytest.fixture
def inputs(tmp_path):
    weights = save_checkpoint(tmp_path / "w.pt", long_clip_layout(tiny_state_dict(seed=4)))
    card = write_card(tmp_path, "tiny-in-qgis", local_weights=weights)
    image = np.random.default_rng(0).integers(0, 256, (3, 96, 128)).astype(np.uint8)
    raster = write_geotiff(tmp_path / "rgb.tif", image, GT)
    project = tmp_path / "project.gpkg"
    roads = QgsVectorLayer("LineString?crs=EPSG:32633&field=name:string", "roads", "memory")
    from qgis.core import QgsVectorFileWriter
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName, options.layerName = "GPKG", "roads"
    QgsVectorFileWriter.writeAsVectorFormatV3(roads, str(project), QgsProject.instance()
                                              .transformContext(), options)
    return card, raster, project


def loaded(uri):
    return next(layer for layer in QgsProject.instance().mapLayers().values()
                if layer.source() == uri)


def test_dialog_run_writes_the_named_layer_and_searches_the_loaded_index(provider, inputs,
                                                                        tmp_path):
    import processing

    card, raster, project = inputs
    results = processing.runAndLoadResults("rsai:embed_image_chips", {
        "INPUT": str(raster), "MODEL": str(card), "DEVICE": 1, "STRIDE": 16,
        "OUTPUT": f"ogr:dbname='{project}' table=\"my_chips\" (geom)"})
    assert results["OUTPUT"] == f"{project}|layername=my_chips" and results["COUNT"] == 7 * 5
    index = loaded(results["OUTPUT"])
    assert index.featureCount() == 35 and isinstance(index.renderer(), QgsSingleSymbolRenderer)
    assert index.crs().authid() == "EPSG:32633"
    # The user's layer is still there. (No name for it: a layer still referenced when QGIS
    # exits, here by this frame kept alive by pytest.raises's traceback, crashes the exit.)
    assert QgsVectorLayer(f"{project}|layername=roads", "roads", "ogr").isValid()

    from qgis.core import QgsProcessingException
    with pytest.raises(QgsProcessingException, match="made with model tiny-in-qgis, which is not "
                                                     "a known card here.*Set MODEL"):
        processing.run("rsai:text_search", {"INDEX": index, "QUERY": "a river", "DEVICE": 1,
                                            "OUTPUT": str(tmp_path / "none.gpkg")})
    matches = processing.runAndLoadResults("rsai:text_search", {
        "INDEX": index, "MODEL": str(card), "QUERY": "a river bend", "TOP_K": 4, "DEVICE": 1,
        "OUTPUT": str(tmp_path / "matches.gpkg")})
    layer = loaded(matches["OUTPUT"])
    assert layer.featureCount() == 4 and isinstance(layer.renderer(), QgsGraduatedSymbolRenderer)
    assert layer.renderer().classAttribute() == "similarity"

    classes = processing.runAndLoadResults("rsai:zero_shot_classify", {
        "INDEX": index, "MODEL": str(card), "LABELS": "forest | water", "DEVICE": 1,
        "OUTPUT": str(tmp_path / "classes.tif")})
    renderer = loaded(classes["OUTPUT"]).renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    assert [c.label for c in renderer.classes()] == ["forest", "water"]
