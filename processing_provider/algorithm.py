"""What every rsai algorithm shares: naming, help, feedback callbacks and error translation.

A tool subclasses ``RsaiAlgorithm``, sets its name/display name/group/help as class attributes
and writes ``initAlgorithm`` and ``run_tool``; ``processAlgorithm`` turns core errors into messages
QGIS shows in the dialog and the qgis_process output.
"""

from pathlib import Path

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingParameterEnum, QgsProcessingParameterNumber)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..models.callbacks import Callbacks
from ..models.errors import Cancelled, UserError
from ..models.runtime.devices import device_summary
from . import settings

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
HELP = Path(__file__).resolve().parents[1] / "docs" / "tools"


def feedback_callbacks(feedback) -> Callbacks:
    """QgsProcessingFeedback as the core's Callbacks: progress (0..1 -> percent), cancel, log
    lines, and warnings on the feedback's warning channel."""
    return Callbacks(progress=lambda fraction: feedback.setProgress(100.0 * fraction),
                     is_cancelled=feedback.isCanceled, log=feedback.pushInfo,
                     warn=feedback.pushWarning)


class RsaiAlgorithm(QgsProcessingAlgorithm):
    NAME = ""
    DISPLAY_NAME = ""
    GROUP = "Models"
    GROUP_ID = "models"
    HELP = ""  # what it does, inputs, outputs, the paper to cite and the weights' licence
    ICON = ""  # resources/icons/<ICON>; empty: <NAME>.svg, else the provider's rsai.svg
    LOG_DEVICES = True  # start the log with the devices each backend would use

    def name(self):
        return self.NAME

    def displayName(self):
        return self.tr(self.DISPLAY_NAME)

    def group(self):
        return self.tr(self.GROUP)

    def groupId(self):
        return self.GROUP_ID

    def shortHelpString(self):
        return self.tr(self.HELP)

    def helpUrl(self):
        page = HELP / f"{self.NAME}.md"
        return page.as_uri() if page.exists() else ""

    def icon_path(self) -> Path:
        for name in (self.ICON, f"{self.NAME}.svg"):
            if name and (ICONS / name).is_file():
                return ICONS / name
        return ICONS / "rsai.svg"

    def icon(self):
        return QIcon(str(self.icon_path()))

    def tr(self, text):
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self):
        return type(self)()

    def processAlgorithm(self, parameters, context, feedback):
        callbacks = feedback_callbacks(feedback)
        if self.LOG_DEVICES:
            callbacks.log(device_summary())
        try:
            return self.run_tool(parameters, context, callbacks)
        except Cancelled as exc:
            raise QgsProcessingException(self.tr("Cancelled: ") + str(exc))
        except UserError as exc:
            raise QgsProcessingException(str(exc))

    def run_tool(self, parameters, context, callbacks: Callbacks) -> dict:
        """The tool's work (named so as not to hide QgsProcessingAlgorithm.run)."""
        raise NotImplementedError

    # Parameters several tools share, so their names and meanings stay the same everywhere.
    def add_device_parameter(self, name: str = "DEVICE") -> None:
        self.addParameter(QgsProcessingParameterEnum(
            name, self.tr("Device (auto uses a GPU when there is one)"),
            options=settings.DEVICE_OPTIONS,
            defaultValue=settings.DEVICE_OPTIONS.index(settings.default_device())))

    def device(self, parameters, context, name: str = "DEVICE") -> str:
        return settings.DEVICE_OPTIONS[self.parameterAsEnum(parameters, name, context)]

    def add_tiling_parameters(self) -> None:
        """TILE_SIZE and OVERLAP left empty take the model card's values."""
        for name, label, optional, default, minimum in (
                ("TILE_SIZE", "Tile size in pixels (empty: the model's)", True, None, 16),
                ("OVERLAP", "Tile overlap in pixels (empty: the model's)", True, None, 0),
                ("BATCH_SIZE", "Tiles per batch", False, 1, 1)):
            parameter = QgsProcessingParameterNumber(
                name, self.tr(label), QgsProcessingParameterNumber.Integer, default,
                optional=optional, minValue=minimum)
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)

    def tiling(self, parameters, context) -> dict:
        """tile_size / overlap (None where left empty) and batch_size, for the core."""
        def optional_int(name):
            value = parameters.get(name)
            return None if value in (None, "") else self.parameterAsInt(parameters, name, context)
        return {"tile_size": optional_int("TILE_SIZE"), "overlap": optional_int("OVERLAP"),
                "batch_size": self.parameterAsInt(parameters, "BATCH_SIZE", context)}
