"""Writes farmland_fields.model3: rsai:farmland_segmentation chained into rsai:polygonize_fields.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/e2e/models/make_farmland_model3.py
(the model only names the algorithms; the plugin need not be loaded to write it).
"""

from pathlib import Path

from qgis.core import (QgsApplication, QgsProcessingModelAlgorithm,
                       QgsProcessingModelChildAlgorithm, QgsProcessingModelChildParameterSource,
                       QgsProcessingModelOutput, QgsProcessingModelParameter,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)
from qgis.PyQt.QtCore import QPointF


def build() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm("Farmland fields", "Remote Sensing AI Toolbox")
    model.addModelParameter(QgsProcessingParameterRasterLayer(
        "INPUT", "8-band FTW stack (B04, B03, B02, B08 of window A, then B)"),
        QgsProcessingModelParameter("INPUT"))
    model.addModelParameter(QgsProcessingParameterString("MODEL", "Model", "ftw-3class"),
                            QgsProcessingModelParameter("MODEL"))

    segment = QgsProcessingModelChildAlgorithm("rsai:farmland_segmentation")
    segment.setChildId("segment")
    segment.setDescription("Farmland segmentation")
    segment.setPosition(QPointF(300, 100))
    segment.addParameterSources("INPUT", [
        QgsProcessingModelChildParameterSource.fromModelParameter("INPUT")])
    segment.addParameterSources("MODEL", [
        QgsProcessingModelChildParameterSource.fromModelParameter("MODEL")])
    segment.addParameterSources("DEVICE", [QgsProcessingModelChildParameterSource.fromStaticValue(0)])
    segment.addParameterSources("BATCH_SIZE", [QgsProcessingModelChildParameterSource.fromStaticValue(1)])
    fields = QgsProcessingModelOutput("fields", "Fields")
    fields.setChildOutputName("OUTPUT")
    fields.setChildId("segment")
    segment.setModelOutputs({"fields": fields})

    polygonize = QgsProcessingModelChildAlgorithm("rsai:polygonize_fields")
    polygonize.setChildId("polygonize")
    polygonize.setDescription("Polygonize fields")
    polygonize.setPosition(QPointF(300, 250))
    polygonize.addParameterSources("INPUT", [
        QgsProcessingModelChildParameterSource.fromChildOutput("segment", "OUTPUT")])
    for name, value in (("MIN_AREA", 0.0), ("SIMPLIFY", 0.0), ("FIELD_VALUE", 1),
                        ("BOUNDARY_VALUE", 2), ("PROBABILITY_BAND", 2)):
        polygonize.addParameterSources(
            name, [QgsProcessingModelChildParameterSource.fromStaticValue(value)])
    polygons = QgsProcessingModelOutput("polygons", "Field polygons")
    polygons.setChildOutputName("OUTPUT")
    polygons.setChildId("polygonize")
    polygonize.setModelOutputs({"polygons": polygons})

    model.addChildAlgorithm(segment)
    model.addChildAlgorithm(polygonize)
    return model


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    target = Path(__file__).with_name("farmland_fields.model3")
    assert build().toFile(str(target)), f"could not write {target}"
    print(target)
