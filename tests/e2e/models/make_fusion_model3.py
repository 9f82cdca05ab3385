"""Writes fusion_landcover_polygons.model3: rsai:fusion_landcover chained into GDAL's
Polygonize (one polygon per patch of a class, its class value in the field ``class``).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/e2e/models/make_fusion_model3.py
(the model only names the algorithms; the plugin need not be loaded to write it).
"""

from pathlib import Path

from qgis.core import (QgsApplication, QgsProcessingModelAlgorithm,
                       QgsProcessingModelChildAlgorithm, QgsProcessingModelChildParameterSource,
                       QgsProcessingModelOutput, QgsProcessingModelParameter,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)
from qgis.PyQt.QtCore import QPointF


def static(value):
    return [QgsProcessingModelChildParameterSource.fromStaticValue(value)]


def from_model(name):
    return [QgsProcessingModelChildParameterSource.fromModelParameter(name)]


def build() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm("Land cover polygons (aerial + satellite)",
                                        "Remote Sensing AI Toolbox")
    for position, parameter in enumerate((
            QgsProcessingParameterRasterLayer("AERIAL", "Aerial image"),
            QgsProcessingParameterRasterLayer("SATELLITE", "Satellite image", optional=True),
            QgsProcessingParameterString("MODEL", "Model"))):
        component = QgsProcessingModelParameter(parameter.name())
        component.setPosition(QPointF(120 + 220 * position, 60))
        model.addModelParameter(parameter, component)

    classify = QgsProcessingModelChildAlgorithm("rsai:fusion_landcover")
    classify.setChildId("classify")
    classify.setDescription("Land cover from aerial + satellite imagery")
    classify.setPosition(QPointF(300, 200))
    for name in ("AERIAL", "SATELLITE", "MODEL"):
        classify.addParameterSources(name, from_model(name))
    classify.addParameterSources("DEVICE", static(0))
    classify.addParameterSources("BATCH_SIZE", static(1))
    landcover = QgsProcessingModelOutput("landcover", "Land cover")
    landcover.setChildId("classify")
    landcover.setChildOutputName("OUTPUT")
    classify.setModelOutputs({"landcover": landcover})

    polygonize = QgsProcessingModelChildAlgorithm("gdal:polygonize")
    polygonize.setChildId("polygonize")
    polygonize.setDescription("Polygonize (raster to vector)")
    polygonize.setPosition(QPointF(300, 350))
    polygonize.addParameterSources("INPUT", [
        QgsProcessingModelChildParameterSource.fromChildOutput("classify", "OUTPUT")])
    polygonize.addParameterSources("BAND", static(1))
    polygonize.addParameterSources("FIELD", static("class"))
    polygonize.addParameterSources("EIGHT_CONNECTEDNESS", static(False))
    polygons = QgsProcessingModelOutput("polygons", "Land cover polygons")
    polygons.setChildId("polygonize")
    polygons.setChildOutputName("OUTPUT")
    polygonize.setModelOutputs({"polygons": polygons})

    model.addChildAlgorithm(classify)
    model.addChildAlgorithm(polygonize)
    return model


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    target = Path(__file__).with_name("fusion_landcover_polygons.model3")
    assert build().toFile(str(target)), f"could not write {target}"
    print(target)
