"""The example graphical models shipped with the plugin (resources/models/*.model3, written by
scripts/make_example_models.py), listed in the Processing Toolbox by their own provider so users
find them, run them like any tool and open them in the modeler (right click > Edit Model) to
make their own."""

from pathlib import Path

from qgis.core import QgsProcessingModelAlgorithm, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"


class ExampleModelsProvider(QgsProcessingProvider):
    def id(self):
        return "rsai_models"

    def name(self):
        return "Example models (Remote Sensing AI Toolbox)"

    def longName(self):
        return self.name()

    def icon(self):
        return QIcon(str(Path(__file__).resolve().parents[1] / "resources" / "icons" / "rsai.svg"))

    def loadAlgorithms(self):
        for path in sorted(MODELS.glob("*.model3")):
            model = QgsProcessingModelAlgorithm()
            if model.fromFile(str(path)):
                model.setSourceFilePath(str(path))
                self.addAlgorithm(model)
