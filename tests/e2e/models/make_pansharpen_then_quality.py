"""Writes pansharpen_then_quality.model3 (run once; the .model3 is what the tests use):
QT_QPA_PLATFORM=offscreen .venv/bin/python tests/e2e/models/make_pansharpen_then_quality.py OUT"""
import sys

from qgis.core import (QgsApplication, QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                       QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                       QgsProcessingModelParameter, QgsProcessingParameterRasterLayer)

app = QgsApplication([], False)
app.initQgis()
model = QgsProcessingModelAlgorithm("pansharpen_then_quality", "rsai tests")
for name, label in (("PAN", "Panchromatic raster"), ("MS", "Multispectral raster")):
    model.addModelParameter(QgsProcessingParameterRasterLayer(name, label),
                            QgsProcessingModelParameter(name))
source = QgsProcessingModelChildParameterSource

pansharpen = QgsProcessingModelChildAlgorithm("rsai:pansharpen")
pansharpen.setChildId("pansharpen")
pansharpen.setDescription("Pansharpen")
pansharpen.addParameterSources("PAN", [source.fromModelParameter("PAN")])
pansharpen.addParameterSources("MS", [source.fromModelParameter("MS")])
pansharpen.addParameterSources("METHOD", [source.fromStaticValue(1)])  # GSA
pansharpen.addParameterSources("SENSOR", [source.fromStaticValue(1)])  # WV2
pansharpen.addParameterSources("DEVICE", [source.fromStaticValue(1)])
fused = QgsProcessingModelOutput("fused", "Pansharpened")
fused.setChildOutputName("OUTPUT")
pansharpen.setModelOutputs({"fused": fused})
model.addChildAlgorithm(pansharpen)

quality = QgsProcessingModelChildAlgorithm("rsai:pansharpening_quality")
quality.setChildId("quality")
quality.setDescription("Pansharpening quality indices")
quality.addParameterSources("FUSED", [source.fromChildOutput("pansharpen", "OUTPUT")])
quality.addParameterSources("PAN", [source.fromModelParameter("PAN")])
quality.addParameterSources("MS", [source.fromModelParameter("MS")])
quality.addParameterSources("MODE", [source.fromStaticValue(0)])  # full resolution
quality.addParameterSources("SENSOR", [source.fromStaticValue(1)])
table = QgsProcessingModelOutput("table", "Quality table")
table.setChildOutputName("OUTPUT_TABLE")
quality.setModelOutputs({"table": table})
model.addChildAlgorithm(quality)

if not model.toFile(sys.argv[1]):
    sys.exit("could not write " + sys.argv[1])
