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
                       QgsProcessingParameterBand, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)
from qgis.PyQt.QtCore import QPointF  # noqa: E402


def add_inputs(model: QgsProcessingModelAlgorithm, parameters) -> None:
    """The model's own parameters, in a row at the top of the canvas."""
    for position, parameter in enumerate(parameters):
        component = QgsProcessingModelParameter(parameter.name())
        component.setPosition(QPointF(120 + 220 * position, 60))
        model.addModelParameter(parameter, component)


def from_model(name):
    return [QgsProcessingModelChildParameterSource.fromModelParameter(name)]


def bayes_train_then_classify() -> QgsProcessingModelAlgorithm:
    """Train a Bayesian land-cover model on polygons, then classify the same raster with it."""
    model = QgsProcessingModelAlgorithm("Bayesian land cover: train then classify", "rsai tests")
    add_inputs(model, (
        QgsProcessingParameterRasterLayer("INPUT", "Input raster"),
        QgsProcessingParameterFeatureSource(
            "TRAINING", "Training polygons or points",
            [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]),
        QgsProcessingParameterField("CLASS_FIELD", "Class field", None, "TRAINING")))
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


def clip_embed_then_search() -> QgsProcessingModelAlgorithm:
    """Embed a raster's chips into an index, then search the index with words."""
    model = QgsProcessingModelAlgorithm("Search imagery with words: embed then search",
                                        "rsai tests")
    for position, parameter in enumerate((
            QgsProcessingParameterRasterLayer("INPUT", "Input raster"),
            QgsProcessingParameterBand("BANDS", "Red, green and blue bands", None, "INPUT",
                                       optional=True, allowMultiple=True),
            QgsProcessingParameterString("MODEL", "CLIP model", "lrsclip-vit-b-16"),
            QgsProcessingParameterString("QUERY", "Query", multiLine=True),
            QgsProcessingParameterNumber("TOP_K", "Number of best chips",
                                         QgsProcessingParameterNumber.Integer, 10, minValue=1))):
        component = QgsProcessingModelParameter(parameter.name())
        component.setPosition(QPointF(120 + 200 * position, 60))
        model.addModelParameter(parameter, component)

    def from_model(name):
        return [QgsProcessingModelChildParameterSource.fromModelParameter(name)]

    def defaults(child):  # what the modeler's dialog fills in: DEVICE auto, 16 chips a batch
        child.addParameterSources("DEVICE", [
            QgsProcessingModelChildParameterSource.fromStaticValue(0)])
        child.addParameterSources("BATCH_SIZE", [
            QgsProcessingModelChildParameterSource.fromStaticValue(16)])

    embed = QgsProcessingModelChildAlgorithm("rsai:embed_image_chips")
    embed.setChildId("embed")
    embed.setDescription("Embed image chips")
    embed.setPosition(QPointF(250, 200))
    for name in ("INPUT", "BANDS", "MODEL"):
        embed.addParameterSources(name, from_model(name))
    defaults(embed)
    index = QgsProcessingModelOutput("index", "Chip index")
    index.setChildId("embed")
    index.setChildOutputName("OUTPUT")
    index.setPosition(QPointF(470, 250))
    embed.setModelOutputs({"index": index})
    model.addChildAlgorithm(embed)

    search = QgsProcessingModelChildAlgorithm("rsai:text_search")
    search.setChildId("search")
    search.setDescription("Search imagery with words")
    search.setPosition(QPointF(250, 360))
    search.addParameterSources("INDEX", [
        QgsProcessingModelChildParameterSource.fromChildOutput("embed", "OUTPUT")])
    for name in ("QUERY", "TOP_K"):
        search.addParameterSources(name, from_model(name))
    defaults(search)
    outputs = {}
    for name, child_output, description, y in (("matches", "OUTPUT", "Best matching chips", 410),
                                               ("heatmap", "OUTPUT_HEATMAP", "Similarity heat map",
                                                460)):
        output = QgsProcessingModelOutput(name, description)
        output.setChildId("search")
        output.setChildOutputName(child_output)
        output.setPosition(QPointF(470, y))
        outputs[name] = output
    search.setModelOutputs(outputs)
    model.addChildAlgorithm(search)
    valid, issues = model.validate()
    if not valid:
        raise SystemExit(f"the model is not valid: {issues}")
    return model


def soil_train_then_predict() -> QgsProcessingModelAlgorithm:
    """Train a soil model on lab samples, then map the image with it (values and intervals)."""
    model = QgsProcessingModelAlgorithm("Soil: train then predict", "rsai tests")
    add_inputs(model, (
        QgsProcessingParameterRasterLayer("INPUT", "Sentinel-2 image"),
        QgsProcessingParameterFeatureSource(
            "SAMPLES", "Soil samples", [QgsProcessing.TypeVectorPoint]),
        QgsProcessingParameterField("TARGET_FIELDS", "Target fields", None, "SAMPLES",
                                    QgsProcessingParameterField.Numeric, allowMultiple=True)))
    train = QgsProcessingModelChildAlgorithm("rsai:soil_train")
    train.setChildId("train")
    train.setDescription("Train soil property model")
    train.setPosition(QPointF(230, 200))
    for name in ("INPUT", "SAMPLES", "TARGET_FIELDS"):
        train.addParameterSources(name, from_model(name))
    for name, value in (("ALGORITHM", 1), ("TREES", 100),  # XGBoost, 100 trees: quick
                        ("FEATURES", [0, 3]), ("CV", 0), ("CV_BLOCK_SIZE", 250.0),
                        ("CV_FOLDS", 5), ("INTERVAL", 0.9), ("SEED", 0)):
        # what the modeler's dialog fills in
        train.addParameterSources(name, [
            QgsProcessingModelChildParameterSource.fromStaticValue(value)])
    model.addChildAlgorithm(train)

    predict = QgsProcessingModelChildAlgorithm("rsai:soil_predict")
    predict.setChildId("predict")
    predict.setDescription("Predict soil properties")
    predict.setPosition(QPointF(230, 340))
    predict.addParameterSources("INPUT", from_model("INPUT"))
    predict.addParameterSources("MODEL", [
        QgsProcessingModelChildParameterSource.fromChildOutput("train", "OUTPUT_MODEL")])
    predict.addParameterSources("DEVICE", [
        QgsProcessingModelChildParameterSource.fromStaticValue(0)])
    outputs = {}
    for name, child_output, description in (("soil", "OUTPUT", "Soil properties"),
                                             ("interval", "OUTPUT_INTERVAL",
                                              "Prediction intervals")):
        output = QgsProcessingModelOutput(name, description)
        output.setChildId("predict")
        output.setChildOutputName(child_output)
        output.setPosition(QPointF(450, 380 + 60 * len(outputs)))
        outputs[name] = output
    predict.setModelOutputs(outputs)
    model.addChildAlgorithm(predict)
    valid, issues = model.validate()
    if not valid:
        raise SystemExit(f"the model is not valid: {issues}")
    return model


MODELS = {"bayes_train_then_classify.model3": bayes_train_then_classify,
          "clip_embed_then_search.model3": clip_embed_then_search,
          "soil_train_then_predict.model3": soil_train_then_predict}


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
