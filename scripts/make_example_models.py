#!/usr/bin/env python3
"""Writes the example graphical models shipped with the plugin (resources/models/*.model3; the
Processing Toolbox lists them under Models > Remote Sensing AI Toolbox), with QGIS's own API so
they open in the modeler as if drawn there.

Every parameter of every step gets a value (the tool's default where the example does not
choose one), so the modeler's validation passes; boxes are laid out top to bottom.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_example_models.py
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "resources" / "models"
sys.path.insert(0, str(REPO / "build" / "plugins"))

from qgis.core import (QgsApplication, QgsProcessing, QgsProcessingDestinationParameter,  # noqa: E402
                       QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                       QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                       QgsProcessingModelParameter, QgsProcessingParameterBand,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)
from qgis.PyQt.QtCore import QPointF  # noqa: E402

Source = QgsProcessingModelChildParameterSource


class Example:
    """A model built step by step: inputs in a row at the top, steps below each other, each
    step's model outputs to its right."""

    def __init__(self, name: str, group: str, description: str):
        """``group``: the Toolbox group, the same as the tools' it chains."""
        self.model = QgsProcessingModelAlgorithm(name, group)
        self.model.setHelpContent({"ALG_DESC": description})
        self.inputs = 0
        self.steps = 0

    def add_input(self, parameter) -> None:
        component = QgsProcessingModelParameter(parameter.name())
        component.setPosition(QPointF(140 + 260 * self.inputs, 70))
        self.model.addModelParameter(parameter, component)
        self.inputs += 1

    def add_step(self, child_id: str, algorithm_id: str, sources: dict,
                 outputs: dict[str, tuple[str, str]]) -> None:
        """``sources``: parameter -> Source; every other parameter takes the tool's default.
        ``outputs``: model output name -> (the tool's output, description)."""
        child = QgsProcessingModelChildAlgorithm(algorithm_id)
        child.setChildId(child_id)
        algorithm = child.algorithm()
        if algorithm is None:
            raise SystemExit(f"{algorithm_id} is not registered")
        child.setDescription(algorithm.displayName())
        position = QPointF(400, 220 + 170 * self.steps)
        child.setPosition(position)
        for parameter in algorithm.parameterDefinitions():
            name = parameter.name()
            if name in sources:
                child.addParameterSources(name, [sources[name]])
            elif (not isinstance(parameter, QgsProcessingDestinationParameter)
                  and parameter.defaultValue() is not None):
                child.addParameterSources(name, [Source.fromStaticValue(parameter.defaultValue())])
        model_outputs = {}
        for i, (output_name, (child_output, description)) in enumerate(outputs.items()):
            output = QgsProcessingModelOutput(output_name, description)
            output.setChildId(child_id)
            output.setChildOutputName(child_output)
            output.setPosition(position + QPointF(300, 50 + 45 * i))
            model_outputs[output_name] = output
        child.setModelOutputs(model_outputs)
        self.model.addChildAlgorithm(child)
        self.steps += 1


def farmland_fields() -> QgsProcessingModelAlgorithm:
    example = Example("Farmland fields (segment, then polygonize)", "Farmland",
                      "Fields and boundaries from a two-date Sentinel-2 stack with the FTW "
                      "U-Net, then one polygon per field.")
    example.add_input(QgsProcessingParameterRasterLayer(
        "INPUT", "8-band stack (A then B)"))
    example.add_input(QgsProcessingParameterString("MODEL", "Model", "ftw-3class"))
    example.add_step("segment", "rsai:farmland_segmentation",
                     {"INPUT": Source.fromModelParameter("INPUT"),
                      "MODEL": Source.fromModelParameter("MODEL")},
                     {"fields": ("OUTPUT", "Fields")})
    example.add_step("polygonize", "rsai:polygonize_fields",
                     {"INPUT": Source.fromChildOutput("segment", "OUTPUT")},
                     {"polygons": ("OUTPUT", "Field polygons")})
    return example.model


def bayes_train_then_classify() -> QgsProcessingModelAlgorithm:
    example = Example("Bayesian land cover (train, then classify)", "Land cover",
                      "Trains the Bayesian land-cover model on labelled polygons, then "
                      "classifies the same raster with it.")
    example.add_input(QgsProcessingParameterRasterLayer("INPUT", "Input raster"))
    example.add_input(QgsProcessingParameterFeatureSource(
        "TRAINING", "Training polygons or points",
        [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]))
    example.add_input(QgsProcessingParameterField("CLASS_FIELD", "Class field", None, "TRAINING"))
    example.add_step("train", "rsai:bayes_landcover_train",
                     {name: Source.fromModelParameter(name)
                      for name in ("INPUT", "TRAINING", "CLASS_FIELD")},
                     {})
    example.add_step("classify", "rsai:bayes_landcover_classify",
                     {"INPUT": Source.fromModelParameter("INPUT"),
                      "MODEL": Source.fromChildOutput("train", "OUTPUT_MODEL")},
                     {"classes": ("OUTPUT", "Land cover classes")})
    return example.model


def pansharpen_then_quality() -> QgsProcessingModelAlgorithm:
    example = Example("Pansharpen, then measure the quality", "Pansharpening",
                      "GSA pansharpening of a WorldView-2 pair, then the full-resolution "
                      "quality indices (QNR, HQNR) of the result.")
    for name, label in (("PAN", "Panchromatic raster (PAN)"),
                        ("MS", "Multispectral raster (MS)")):
        example.add_input(QgsProcessingParameterRasterLayer(name, label))
    pair = {"PAN": Source.fromModelParameter("PAN"), "MS": Source.fromModelParameter("MS"),
            "SENSOR": Source.fromStaticValue(1)}  # WV2
    example.add_step("pansharpen", "rsai:pansharpen",
                     pair | {"METHOD": Source.fromStaticValue(1), "DEVICE": Source.fromStaticValue(1)},
                     {"fused": ("OUTPUT", "Pansharpened")})
    example.add_step("quality", "rsai:pansharpening_quality",
                     pair | {"FUSED": Source.fromChildOutput("pansharpen", "OUTPUT"),
                             "MODE": Source.fromStaticValue(0)},
                     {"table": ("OUTPUT_TABLE", "Quality table")})
    return example.model


def download_then_run() -> QgsProcessingModelAlgorithm:
    example = Example("Download a model, then run it", "Models",
                      "Prefetches the model's weights (verified by sha256), then runs the model "
                      "on a raster: the download step can run alone on a connected machine.")
    example.add_input(QgsProcessingParameterRasterLayer("INPUT", "Input raster"))
    example.add_input(QgsProcessingParameterString("MODEL", "Model"))
    example.add_step("download", "rsai:download_model",
                     {"MODEL": Source.fromModelParameter("MODEL")}, {})
    example.add_step("run", "rsai:run_model",
                     {"INPUT": Source.fromModelParameter("INPUT"),
                      "MODEL": Source.fromChildOutput("download", "MODEL")},
                     {"classes": ("OUTPUT", "Classes")})
    return example.model


def sea_ice_types_then_scores() -> QgsProcessingModelAlgorithm:
    example = Example("Sea-ice types, then scores against a chart", "Sea ice",
                      "Ice types from Sentinel-1 HH/HV, then the AutoICE scores of the map "
                      "against an ice chart rasterised with the model's codes.")
    example.add_input(QgsProcessingParameterRasterLayer("INPUT", "Sentinel-1 HH/HV raster"))
    example.add_input(QgsProcessingParameterRasterLayer("CHART", "Ice chart (the model's codes)"))
    example.add_input(QgsProcessingParameterString("MODEL", "Model", "nersc-s1-icetype"))
    example.add_step("types", "rsai:sea_ice_types",
                     {"INPUT": Source.fromModelParameter("INPUT"),
                      "MODEL": Source.fromModelParameter("MODEL")},
                     {"ice_types": ("OUTPUT", "Ice types")})
    example.add_step("scores", "rsai:sea_ice_scores",
                     {"PREDICTION": Source.fromChildOutput("types", "OUTPUT"),
                      "CHART": Source.fromModelParameter("CHART")},
                     {"table": ("OUTPUT_TABLE", "Score table")})
    return example.model


def clip_embed_then_search() -> QgsProcessingModelAlgorithm:
    example = Example("Search imagery with words (embed, then search)",
                      "Search imagery with words",
                      "Embeds a raster's chips into an index, then finds the chips that best "
                      "match a description; later searches can reuse the index.")
    example.add_input(QgsProcessingParameterRasterLayer("INPUT", "Input raster"))
    example.add_input(QgsProcessingParameterBand("BANDS", "Red, green and blue bands", None,
                                                 "INPUT", optional=True, allowMultiple=True))
    example.add_input(QgsProcessingParameterString("MODEL", "CLIP model", "lrsclip-vit-b-16"))
    example.add_input(QgsProcessingParameterString("QUERY", "Query", multiLine=True))
    example.add_input(QgsProcessingParameterNumber("TOP_K", "Number of best chips",
                                                   QgsProcessingParameterNumber.Integer, 10,
                                                   minValue=1))
    example.add_step("embed", "rsai:embed_image_chips",
                     {name: Source.fromModelParameter(name)
                      for name in ("INPUT", "BANDS", "MODEL")},
                     {"index": ("OUTPUT", "Chip index")})
    example.add_step("search", "rsai:text_search",
                     {"INDEX": Source.fromChildOutput("embed", "OUTPUT"),
                      "QUERY": Source.fromModelParameter("QUERY"),
                      "TOP_K": Source.fromModelParameter("TOP_K")},
                     {"matches": ("OUTPUT", "Best matching chips"),
                      "heatmap": ("OUTPUT_HEATMAP", "Similarity heat map")})
    return example.model


def soil_train_then_predict() -> QgsProcessingModelAlgorithm:
    example = Example("Soil properties (train, then predict)", "Soil",
                      "Trains a soil model on lab samples at points (XGBoost, 100 trees: quick), "
                      "then maps the image with it: values and prediction intervals.")
    example.add_input(QgsProcessingParameterRasterLayer("INPUT", "Sentinel-2 image"))
    example.add_input(QgsProcessingParameterFeatureSource(
        "SAMPLES", "Soil samples", [QgsProcessing.TypeVectorPoint]))
    example.add_input(QgsProcessingParameterField(
        "TARGET_FIELDS", "Target fields", None, "SAMPLES", QgsProcessingParameterField.Numeric,
        allowMultiple=True))
    example.add_step("train", "rsai:soil_train",
                     {**{name: Source.fromModelParameter(name)
                         for name in ("INPUT", "SAMPLES", "TARGET_FIELDS")},
                      "ALGORITHM": Source.fromStaticValue(1), "TREES": Source.fromStaticValue(100)},
                     {})
    example.add_step("predict", "rsai:soil_predict",
                     {"INPUT": Source.fromModelParameter("INPUT"),
                      "MODEL": Source.fromChildOutput("train", "OUTPUT_MODEL")},
                     {"soil": ("OUTPUT", "Soil properties"),
                      "interval": ("OUTPUT_INTERVAL", "Prediction intervals")})
    return example.model


def fusion_landcover_polygons() -> QgsProcessingModelAlgorithm:
    example = Example("Land cover polygons (aerial + satellite)", "Land cover",
                      "Land cover from an aerial image (fused with a satellite image by fusion "
                      "models), then one polygon per patch of a class (GDAL Polygonize).")
    example.add_input(QgsProcessingParameterRasterLayer("AERIAL", "Aerial image"))
    example.add_input(QgsProcessingParameterRasterLayer("SATELLITE", "Satellite image",
                                                        optional=True))
    example.add_input(QgsProcessingParameterString("MODEL", "Model"))
    example.add_step("classify", "rsai:fusion_landcover",
                     {name: Source.fromModelParameter(name)
                      for name in ("AERIAL", "SATELLITE", "MODEL")},
                     {"landcover": ("OUTPUT", "Land cover")})
    example.add_step("polygonize", "gdal:polygonize",
                     {"INPUT": Source.fromChildOutput("classify", "OUTPUT"),
                      "BAND": Source.fromStaticValue(1), "FIELD": Source.fromStaticValue("class"),
                      "EIGHT_CONNECTEDNESS": Source.fromStaticValue(False)},
                     {"polygons": ("OUTPUT", "Land cover polygons")})
    return example.model


EXAMPLES = {"farmland_fields.model3": farmland_fields,
            "bayes_train_then_classify.model3": bayes_train_then_classify,
            "pansharpen_then_quality.model3": pansharpen_then_quality,
            "download_then_run.model3": download_then_run,
            "sea_ice_types_then_scores.model3": sea_ice_types_then_scores,
            "clip_embed_then_search.model3": clip_embed_then_search,
            "soil_train_then_predict.model3": soil_train_then_predict,
            "fusion_landcover_polygons.model3": fusion_landcover_polygons}


def main() -> int:
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))  # processing
    from processing.core.Processing import Processing
    Processing.initialize()
    from rsai_toolbox.processing_provider.provider import RsaiProvider
    provider = RsaiProvider()  # kept referenced: the registry does not keep the Python object
    QgsApplication.processingRegistry().addProvider(provider)
    MODELS.mkdir(parents=True, exist_ok=True)
    for file_name, build in EXAMPLES.items():
        model = build()
        valid, problems = model.validate()
        if not valid:
            raise SystemExit(f"{file_name}: {'; '.join(problems)}")
        if not model.toFile(str(MODELS / file_name)):
            raise SystemExit(f"could not write {MODELS / file_name}")
        print(f"wrote {MODELS / file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
