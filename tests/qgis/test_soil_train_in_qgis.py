"""rsai:soil_train inside QGIS with sample layers that are not plain files: an in-memory layer
and a filtered GeoPackage layer are copied to a temporary GeoPackage for the core."""

import json

from qgis.core import QgsFeatureRequest, QgsVectorLayer

from helpers_soil import columns, s2_raster, sample_points


def train(tmp_path, image, layer):
    import processing
    return processing.run("rsai:soil_train", {
        "SAMPLES": layer, "TARGET_FIELDS": ["pH_target", "SOC_target"], "INPUT": str(image),
        "ALGORITHM": 1, "TREES": 30, "CV_FOLDS": 4, "CV_BLOCK_SIZE": 300,
        "OUTPUT_MODEL": str(tmp_path / "soil.onnx"), "OUTPUT_REPORT": str(tmp_path / "soil.html")})


def test_memory_and_filtered_layers_train_on_their_own_features(provider, tmp_path,
                                                                shared_data):
    image = s2_raster(shared_data, "BB_250", tmp_path / "s2.tif")
    source = QgsVectorLayer(str(sample_points(shared_data, "BB_250", tmp_path / "s.gpkg")),
                            "samples", "ogr")
    memory = source.materialize(QgsFeatureRequest())
    assert memory.providerType() == "memory"
    results = train(tmp_path, image, memory)
    assert results["SAMPLES_USED"] == 250 and results["SAMPLES_SKIPPED"] == 0
    assert results["R2_SOC_target"] > 0.5 and "RMSE_pH_target" in results

    source.setSubsetString('"fold" <> 1')
    results = train(tmp_path, image, source)
    in_fold_1 = int((columns(shared_data, "BB_250")["fold"] == 1).sum())
    assert results["SAMPLES_USED"] == 250 - in_fold_1
    card = json.loads((tmp_path / "soil.json").read_text())
    assert card["method"]["training"]["samples"] == 250 - in_fold_1
    assert card["method"]["training"]["cross_validation"] == "spatial blocks of 300 m, 4 folds"
