"""rsai:install_dependencies: the dependency installer headless (qgis_process, models, scripts)."""

from qgis.core import (QgsProcessingException, QgsProcessingOutputFolder,
                       QgsProcessingOutputString, QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterString)

from ...plugin import dependencies
from ..algorithm import RsaiAlgorithm

TARGETS = ["CPU", "CUDA (NVIDIA GPU)"]


class InstallDependencies(RsaiAlgorithm):
    NAME = "install_dependencies"
    DISPLAY_NAME = "Install dependencies"
    GROUP = "Set-up"
    GROUP_ID = "setup"
    LOG_DEVICES = False
    HELP = """Installs the Python packages the models need (onnxruntime, PyTorch, ...; the list \
is the plugin's requirements/runtime.txt) into a folder the plugin owns, with pip run by the \
Python interpreter QGIS uses. QGIS's own packages (numpy above all) are pinned at their \
installed versions so they keep working. The folder is added to Python's path when the plugin \
loads; the packages are usable at once, without restarting QGIS.

<b>Target</b>: CPU installs PyTorch's CPU build (from the PyTorch CPU index, much smaller); \
CUDA installs the CUDA builds of PyTorch and onnxruntime (onnxruntime-gpu) for NVIDIA GPUs \
(needs an NVIDIA driver).
<b>Packages</b>: empty installs the missing requirements; or name packages, e.g. \
<i>onnxruntime>=1.16</i>.
<b>Folder</b>: empty uses the QGIS profile's rsai/deps/py3XX folder.
<b>Index URL / extra index / find links / no index</b> (advanced): for mirrors and offline \
machines: put the wheels in a folder, give it as find links and tick no index.

Output: the folder and the installed packages. The log shows pip's output."""

    def initAlgorithm(self, config=None):
        has_gpu = dependencies.nvidia_driver() is not None
        self.addParameter(QgsProcessingParameterEnum(
            "TARGET", self.tr("Target"), options=[self.tr(t) for t in TARGETS],
            defaultValue=1 if has_gpu else 0))
        self.addParameter(QgsProcessingParameterString(
            "PACKAGES", self.tr("Packages (empty: the missing requirements)"), optional=True))
        self.addParameter(QgsProcessingParameterFile(
            "FOLDER", self.tr("Install folder (empty: inside the QGIS profile)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        advanced = [
            QgsProcessingParameterBoolean(
                "REINSTALL", self.tr("Install every requirement, not only the missing ones"),
                defaultValue=False),
            QgsProcessingParameterString(
                "INDEX_URL", self.tr("Package index URL (empty: pip's default, PyPI)"),
                optional=True),
            QgsProcessingParameterString(
                "EXTRA_INDEX_URL", self.tr("Extra package index URL"), optional=True),
            QgsProcessingParameterFile(
                "FIND_LINKS", self.tr("Folder of wheel files (pip --find-links)"),
                behavior=QgsProcessingParameterFile.Folder, optional=True),
            QgsProcessingParameterBoolean(
                "NO_INDEX", self.tr("Offline: use only the wheel folder (pip --no-index)"),
                defaultValue=False),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)
        self.addOutput(QgsProcessingOutputFolder("FOLDER", self.tr("Install folder")))
        self.addOutput(QgsProcessingOutputString("INSTALLED", self.tr("Installed packages")))

    def run_tool(self, parameters, context, callbacks):
        variant = dependencies.VARIANTS[self.parameterAsEnum(parameters, "TARGET", context)]
        if variant == dependencies.CUDA and dependencies.nvidia_driver() is None:
            callbacks.warn(f"no NVIDIA driver found on this machine; the CUDA builds "
                          "will only use a GPU once a driver is installed.")
        packages = self.parameterAsString(parameters, "PACKAGES", context).split()
        extra = self.parameterAsString(parameters, "EXTRA_INDEX_URL", context)
        find_links = self.parameterAsString(parameters, "FIND_LINKS", context)
        plan = dependencies.make_plan(
            variant, packages or None,
            self.parameterAsString(parameters, "FOLDER", context) or None,
            index_url=self.parameterAsString(parameters, "INDEX_URL", context) or None,
            extra_index_urls=[extra] if extra else [],
            find_links=[find_links] if find_links else [],
            no_index=self.parameterAsBool(parameters, "NO_INDEX", context),
            reinstall=self.parameterAsBool(parameters, "REINSTALL", context))
        callbacks.log(f"Installing {' '.join(plan.packages) or 'nothing'} ({variant}) into "
                      f"{plan.folder} with {plan.python}; pins: {', '.join(plan.constraints)}")
        code = dependencies.run(plan, callbacks.log, callbacks.is_cancelled)
        if code == -1 and callbacks.is_cancelled():
            raise QgsProcessingException(self.tr("Cancelled: pip was stopped."))
        if code != 0:
            raise QgsProcessingException(self.tr(
                "pip failed (exit code {}): see the log above. Offline? Put the wheels in a "
                "folder and give it as 'Folder of wheel files' with 'Offline' ticked.").format(code))
        callbacks.progress(1.0)
        return {"FOLDER": str(plan.folder), "INSTALLED": " ".join(plan.packages)}
