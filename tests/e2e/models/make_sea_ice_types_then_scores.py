"""Writes sea_ice_types_then_scores.model3 (run once; the .model3 is what the tests use):
QT_QPA_PLATFORM=offscreen .venv/bin/python tests/e2e/models/make_sea_ice_types_then_scores.py OUT"""
import sys

from qgis.core import (QgsApplication, QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                       QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                       QgsProcessingModelParameter, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

app = QgsApplication([], False)
app.initQgis()
model = QgsProcessingModelAlgorithm("sea_ice_types_then_scores", "rsai tests")
for parameter in (QgsProcessingParameterRasterLayer("INPUT", "Sentinel-1 HH/HV raster"),
                  QgsProcessingParameterRasterLayer("CHART", "Ice chart (the model's codes)"),
                  QgsProcessingParameterString("MODEL", "Model (card id)",
                                               defaultValue="nersc-s1-icetype")):
    model.addModelParameter(parameter, QgsProcessingModelParameter(parameter.name()))
source = QgsProcessingModelChildParameterSource

types = QgsProcessingModelChildAlgorithm("rsai:sea_ice_types")
types.setChildId("types")
types.setDescription("Sea-ice types")
types.addParameterSources("INPUT", [source.fromModelParameter("INPUT")])
types.addParameterSources("MODEL", [source.fromModelParameter("MODEL")])
types.addParameterSources("DEVICE", [source.fromStaticValue(1)])  # cpu
types.addParameterSources("UNITS", [source.fromStaticValue(0)])  # detect from the values
types.addParameterSources("BATCH_SIZE", [source.fromStaticValue(1)])
ice_types = QgsProcessingModelOutput("ice_types", "Ice types")
ice_types.setChildOutputName("OUTPUT")
types.setModelOutputs({"ice_types": ice_types})
model.addChildAlgorithm(types)

scores = QgsProcessingModelChildAlgorithm("rsai:sea_ice_scores")
scores.setChildId("scores")
scores.setDescription("Sea-ice scores")
scores.addParameterSources("PREDICTION", [source.fromChildOutput("types", "OUTPUT")])
scores.addParameterSources("CHART", [source.fromModelParameter("CHART")])
table = QgsProcessingModelOutput("table", "Score table")
table.setChildOutputName("OUTPUT_TABLE")
scores.setModelOutputs({"table": table})
model.addChildAlgorithm(scores)

if not model.toFile(sys.argv[1]):
    sys.exit("could not write " + sys.argv[1])
