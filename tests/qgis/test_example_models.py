"""The example graphical models ship with the plugin, are valid in the modeler (every step's
parameters set), laid out (no two boxes on the same spot) and listed in the Processing Toolbox
by the plugin's example-models provider."""

from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

from rsai_toolbox import classFactory

MODELS = Path(__file__).resolve().parents[2] / "resources" / "models"


def test_example_models_are_valid_laid_out_and_listed(qgis_processing):
    plugin = classFactory(None)
    plugin.initProcessing()
    try:
        files = sorted(MODELS.glob("*.model3"))
        assert {f.name for f in files} == {"farmland_fields.model3", "download_then_run.model3",
                                           "bayes_train_then_classify.model3",
                                           "pansharpen_then_quality.model3",
                                           "sea_ice_types_then_scores.model3",
                                           "clip_embed_then_search.model3",
                                           "soil_train_then_predict.model3",
                                           "fusion_landcover_polygons.model3"}
        for path in files:
            model = QgsProcessingModelAlgorithm()
            assert model.fromFile(str(path)), path
            valid, problems = model.validate()
            assert valid, f"{path.name}: {problems}"
            boxes = [c.position() for c in model.childAlgorithms().values()]
            boxes += [p.position() for p in model.parameterComponents().values()]
            boxes += [o.position() for c in model.childAlgorithms().values()
                      for o in c.modelOutputs().values()]
            spots = {(round(p.x()), round(p.y())) for p in boxes}
            assert len(spots) == len(boxes) and (0, 0) not in spots, f"{path.name}: not laid out"
        listed = {a.sourceFilePath(): a.id()
                  for a in QgsApplication.processingRegistry().providerById(
                      "rsai_models").algorithms()}
        assert sorted(Path(p).name for p in listed) == [f.name for f in files]
        assert all(i.startswith("rsai_models:") for i in listed.values())
    finally:
        plugin.unload()
    assert QgsApplication.processingRegistry().providerById("rsai_models") is None
