"""The sea-ice tools inside QGIS's own Processing framework: the graphical model that chains
them validates, and a land mask drawn as an in-memory layer works like a file."""

from pathlib import Path

import numpy as np
import pytest
from qgis.core import (QgsCategorizedSymbolRenderer, QgsFeature, QgsGeometry,
                       QgsPalettedRasterRenderer, QgsProcessingModelAlgorithm, QgsProject,
                       QgsVectorLayer)

from helpers import read
from helpers_seaice import (NERSC_WEIGHTS, ORIGIN, POLAR_STEREO, sar_scene, scaled_nersc_card,
                            write_sar_geotiff)

MODEL3 = Path(__file__).parents[2] / "resources" / "models" / "sea_ice_types_then_scores.model3"


def test_the_graphical_model_validates(provider):
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(MODEL3))
    valid, issues = model.validate()
    assert valid and not issues, issues
    assert sorted(c.algorithmId() for c in model.childAlgorithms().values()) == [
        "rsai:sea_ice_scores", "rsai:sea_ice_types"]
    scores = model.childAlgorithm("scores")
    assert scores.parameterSources()["PREDICTION"][0].outputChildId() == "types"


def test_memory_land_mask_and_styled_layers(provider, tmp_path, shared_data):
    import processing

    card = scaled_nersc_card(tmp_path / "card.json", shared_data / NERSC_WEIGHTS)
    scene = write_sar_geotiff(tmp_path / "s1.tif", sar_scene(230, 260))
    land = QgsVectorLayer(f"Polygon?crs=EPSG:{POLAR_STEREO}", "land", "memory")
    feature = QgsFeature()
    x1 = ORIGIN[0] + 100 * 40
    feature.setGeometry(QgsGeometry.fromWkt(
        f"POLYGON(({ORIGIN[0] - 50} {ORIGIN[1] + 50},{x1} {ORIGIN[1] + 50},{x1} "
        f"{ORIGIN[1] - 9500},{ORIGIN[0] - 50} {ORIGIN[1] - 9500},{ORIGIN[0] - 50} "
        f"{ORIGIN[1] + 50}))"))
    land.dataProvider().addFeatures([feature])
    results = processing.runAndLoadResults("rsai:sea_ice_types", {
        "INPUT": str(scene), "MODEL": str(card), "LAND_MASK": land, "DEVICE": 1,
        "OUTPUT": str(tmp_path / "ice.tif"), "OUTPUT_POLYGONS": str(tmp_path / "ice.gpkg")})
    classes = read(tmp_path / "ice.tif")[0]
    assert (classes[:, :100] == 255).all() and (classes[:200, 150:250] != 255).any()
    layers = {layer.source().split("|")[0]: layer
              for layer in QgsProject.instance().mapLayers().values()}
    assert isinstance(layers[results["OUTPUT"]].renderer(), QgsPalettedRasterRenderer)
    polygons = layers[results["OUTPUT_POLYGONS"]]
    assert isinstance(polygons.renderer(), QgsCategorizedSymbolRenderer)
    assert polygons.featureCount() > 0
    assert np.isin([f["class"] for f in polygons.getFeatures()], [0, 1, 2, 3]).all()
