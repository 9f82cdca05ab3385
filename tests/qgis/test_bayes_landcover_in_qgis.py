"""rsai:bayes_landcover_train inside QGIS with layers that are not plain files: an in-memory
layer and a filtered GeoPackage layer are copied to a temporary GeoPackage for the core."""

import json

from qgis.core import QgsFeatureRequest, QgsVectorLayer

from helpers import landcover_geotiff, landcover_polygons

PIXELS = 11 + 7601 + 1777 + 358 + 198  # pixels under labelled polygons (LULC_mask.npy)


def train(tmp_path, shared_data, layer):
    import processing
    return processing.run("rsai:bayes_landcover_train", {
        "INPUT": str(landcover_geotiff(shared_data, tmp_path / "scene.tif")),
        "TRAINING": layer, "CLASS_FIELD": "LULC_ID", "NAME_FIELD": "LULC_NAME",
        "OUTPUT_MODEL": str(tmp_path / "model.json"),
        "OUTPUT_REPORT": str(tmp_path / "report.html")})


def test_memory_layer_trains_like_the_file(provider, tmp_path, shared_data):
    source = QgsVectorLayer(str(landcover_polygons(shared_data)), "lulc", "ogr")
    memory = source.materialize(QgsFeatureRequest())
    assert memory.providerType() == "memory" and memory.featureCount() == 88
    results = train(tmp_path, shared_data, memory)
    assert results["TRAIN_PIXELS"] + results["TEST_PIXELS"] == PIXELS
    assert results["OVERALL_ACCURACY"] > 0.8


def test_filtered_layer_keeps_its_filter(provider, tmp_path, shared_data):
    layer = QgsVectorLayer(str(landcover_polygons(shared_data)), "lulc", "ogr")
    layer.setSubsetString('"LULC_ID" <> 8')
    results = train(tmp_path, shared_data, layer)
    assert results["TRAIN_PIXELS"] + results["TEST_PIXELS"] == PIXELS - 198
    model = json.loads((tmp_path / "model.json").read_text())
    assert [c["id"] for c in model["classes"]] == [1, 2, 3, 4]
