"""Writes the graphical models the e2e tests run, with QGIS's own API (so they load in the
modeler as if drawn there).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/e2e/models/make_models.py \
        tests/e2e/models/bayes_train_then_classify.model3
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "build" / "plugins"))

from qgis.core import (QgsApplication, QgsProcessing, QgsProcessingModelAlgorithm,  # noqa: E402
                       QgsProcessingModelChildAlgorithm, QgsProcessingModelChildParameterSource,
                       QgsProcessingModelOutput, QgsProcessingModelParameter,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterRasterLayer)
from qgis.PyQt.QtCore import QPointF  # noqa: E402


def bayes_train_then_classify() -> QgsProcessingModelAlgorithm:
    """Train a Bayesian land-cover model on polygons, then classify the same raster with it."""
    model = QgsProcessingModelAlgorithm("Bayesian land cover: train then classify", "rsai tests")
    for position, parameter in enumerate((
            QgsProcessingParameterRasterLayer("INPUT", "Input raster"),
            QgsProcessingParameterFeatureSource(
                "TRAINING", "Training polygons or points",
                [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]),
            QgsProcessingParameterField("CLASS_FIELD", "Class field", None, "TRAINING"))):
        component = QgsProcessingModelParameter(parameter.name())
        component.setPosition(QPointF(120 + 220 * position, 60))
        model.addModelParameter(parameter, component)

    def from_model(name):
        return [QgsProcessingModelChildParameterSource.fromModelParameter(name)]

    train = QgsProcessingModelChildAlgorithm("rsai:bayes_landcover_train")
    train.setChildId("train")
    train.setDescription("Train Bayesian land cover classifier")
    train.setPosition(QPointF(230, 200))
    for name in ("INPUT", "TRAINING", "CLASS_FIELD"):
        train.addParameterSources(name, from_model(name))
    model.addChildAlgorithm(train)

    classify = QgsProcessingModelChildAlgorithm("rsai:bayes_landcover_classify")
    classify.setChildId("classify")
    classify.setDescription("Classify with Bayesian land cover model")
    classify.setPosition(QPointF(230, 340))
    classify.addParameterSources("INPUT", from_model("INPUT"))
    classify.addParameterSources("MODEL", [
        QgsProcessingModelChildParameterSource.fromChildOutput("train", "OUTPUT_MODEL")])
    output = QgsProcessingModelOutput("classes", "Land cover classes")
    output.setChildId("classify")
    output.setChildOutputName("OUTPUT")
    output.setPosition(QPointF(450, 400))
    classify.setModelOutputs({"classes": output})
    model.addChildAlgorithm(classify)
    return model


MODELS = {"bayes_train_then_classify.model3": bayes_train_then_classify}


def main(paths):
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))  # processing
    from processing.core.Processing import Processing
    Processing.initialize()
    from rsai_toolbox.processing_provider.provider import RsaiProvider
    provider = RsaiProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    for path in paths:
        model = MODELS[Path(path).name]()
        if not model.toFile(str(path)):
            raise SystemExit(f"could not write {path}")
        print(f"wrote {path}")
    app.exitQgis()


if __name__ == "__main__":
    main(sys.argv[1:] or [str(Path(__file__).with_name(name)) for name in MODELS])
