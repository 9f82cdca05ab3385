"""What every rsai algorithm shares: naming, help, feedback callbacks, dependency checks,
output-path safety and error translation.

A tool subclasses ``RsaiAlgorithm``, sets its name, display name, group and the Python packages
it needs as class attributes, and writes ``initAlgorithm`` and ``run_tool``; its help is
docs/tools/<NAME>.md (processing_provider/tool_help.py renders it). ``processAlgorithm`` turns core
errors into messages QGIS shows in the dialog and the qgis_process output, and ends at 100%.
Before any tool runs, its destinations are checked here (processing_provider/destinations.py):
no output may be an input or another output, whatever the spelling, and each has an extension
the tool writes.
"""

from pathlib import Path

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessingParameterString,
                       QgsProcessingUtils)
from qgis.PyQt.QtCore import QCoreApplication, QUrl
from qgis.PyQt.QtGui import QIcon

from ..installer import dependencies
from ..models.callbacks import Callbacks
from ..models.errors import Cancelled, UserError
from ..models.hub import WeightsUnavailable
from ..models.runtime.backends import DEVICES
from ..models.runtime.devices import device_summary
from ..models.runtime.gdal_exceptions import gdal_exceptions
from . import destinations, settings, tool_help

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
INSTALL_HINT = ("Install it from the menu Plugins > Remote Sensing AI Toolbox > Install "
                "dependencies… (headless: the tool rsai:install_dependencies).")


def feedback_callbacks(feedback) -> Callbacks:
    """QgsProcessingFeedback as the core's Callbacks: progress (0..1 -> percent), cancel, log
    lines, and warnings on the feedback's warning channel (qgis_process prints WARNING, the
    dialog's log highlights them), never its error channel."""
    return Callbacks(progress=lambda fraction: feedback.setProgress(100.0 * fraction),
                     is_cancelled=feedback.isCanceled, log=feedback.pushInfo,
                     warn=feedback.pushWarning)


def missing_packages_message(tool: str, packages: list[str]) -> str:
    """What a tool says when Python packages it needs are not installed."""
    names = ", ".join(packages)
    one = len(packages) == 1
    return (f"{tool} needs the Python package{'' if one else 's'} {names}, which "
            f"{'is' if one else 'are'} not installed in QGIS's Python. "
            + INSTALL_HINT.replace("Install it", "Install " + ("it" if one else "them")))


class RsaiAlgorithm(QgsProcessingAlgorithm):
    NAME = ""
    DISPLAY_NAME = ""
    GROUP = "Models"
    GROUP_ID = "models"
    ICON = ""  # resources/icons/<ICON>; empty: <NAME>.svg, else the provider's rsai.svg
    LOG_DEVICES = True  # start the log with the devices each backend would use
    # Python packages (distribution names) every run needs; checked before the run starts.
    REQUIRES: tuple = ()
    # Packages only some runs need: {package: what needs it}, for the missing-packages message.
    OPTIONAL: dict = {}
    # How to give this tool weights already on disk, said when they cannot be downloaded
    # (empty: the tool takes no weights).
    LOCAL_WEIGHTS = ""
    # Files a destination also writes, by parameter: {name: (suffix, ...)}, e.g. the CSV beside
    # an HTML report (checked like outputs: never an input, never another output).
    SIDE_FILES: dict = {}

    def name(self):
        return self.NAME

    def displayName(self):
        return self.tr(self.DISPLAY_NAME)

    def group(self):
        return self.tr(self.GROUP)

    def groupId(self):
        return self.GROUP_ID

    def shortHelpString(self):
        return tool_help.panel_html(self.NAME)

    def helpUrl(self):
        """A rendered HTML page (the Help button opens it in the browser)."""
        pages = tool_help.write_pages(Path(QgsProcessingUtils.tempFolder()) / "rsai_help")
        page = pages.get(self.NAME)
        return QUrl.fromLocalFile(str(page)).toString() if page else ""

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

    def missing_requirements(self) -> list[str]:
        return dependencies.missing_packages(self.REQUIRES)

    def checkParameterValues(self, parameters, context):
        """Missing packages are reported before the run starts (the dialog shows the message
        and keeps its values)."""
        missing = self.missing_requirements()
        if missing:
            return False, missing_packages_message(self.displayName(), missing)
        try:
            destinations.checked(self, parameters, context)
        except UserError as exc:
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):
        callbacks = feedback_callbacks(feedback)
        if self.LOG_DEVICES:
            callbacks.log(device_summary())
        try:
            parameters = destinations.checked(self, parameters, context, callbacks.log)
            with gdal_exceptions():  # for this run only, never for other plugins
                results = self.run_tool(parameters, context, callbacks)
        except Cancelled as exc:
            raise QgsProcessingException(self.tr("Cancelled: ") + str(exc))
        except WeightsUnavailable as exc:
            raise QgsProcessingException(" ".join(filter(None, (str(exc), self.LOCAL_WEIGHTS))))
        except UserError as exc:
            raise QgsProcessingException(str(exc))
        feedback.setProgress(100)
        return results

    def run_tool(self, parameters, context, callbacks: Callbacks) -> dict:
        """The tool's work (named so as not to hide QgsProcessingAlgorithm.run)."""
        raise NotImplementedError

    # Parameters several tools share, so their names and meanings stay the same everywhere.
    def add_model_parameter(self, tasks=None, default=None, inputs=None,
                            optional: bool = False, name: str = "MODEL") -> None:
        """MODEL: a card id, an .onnx / card .json file or a Hub reference; the dialogs offer
        the known cards of ``tasks`` whose first input is named one of ``inputs`` (None: any)
        in a drop-down (processing_provider/model_widget.py)."""
        parameter = QgsProcessingParameterString(name, self.tr("Model"), defaultValue=default,
                                                 optional=optional)
        parameter.setMetadata({"widget_wrapper": {
            "class": f"{__package__}.model_widget.ModelWidgetWrapper",
            "tasks": None if tasks is None else list(tasks),
            "inputs": None if inputs is None else list(inputs)}})
        self.addParameter(parameter)

    def add_weights_parameter(self, label: str = "Weights file", name: str = "WEIGHTS") -> None:
        """WEIGHTS: a weights file already on disk, used instead of the card's download."""
        self.addParameter(QgsProcessingParameterFile(name, self.tr(label), optional=True))

    def add_device_parameter(self, name: str = "DEVICE") -> None:
        self.addParameter(QgsProcessingParameterEnum(
            name, self.tr("Device"), options=list(DEVICES),
            defaultValue=DEVICES.index(settings.default_device())))

    def device(self, parameters, context, name: str = "DEVICE") -> str:
        return DEVICES[self.parameterAsEnum(parameters, name, context)]

    def add_tiling_parameters(self) -> None:
        """TILE_SIZE and OVERLAP left empty take the model card's values."""
        for name, label, optional, default, minimum in (
                ("TILE_SIZE", "Tile size (px)", True, None, 16),
                ("OVERLAP", "Tile overlap (px)", True, None, 0),
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

    def tiling_values(self, parameters, context) -> dict:
        """The same under the parameters' own names (TILE_SIZE, ...), for a core tool entry."""
        tiling = self.tiling(parameters, context)
        return {"TILE_SIZE": tiling["tile_size"], "OVERLAP": tiling["overlap"],
                "BATCH_SIZE": tiling["batch_size"]}
