"""rsai:install_dependencies: the dependency installer headless (qgis_process, models, scripts)."""

from qgis.core import (QgsProcessingException, QgsProcessingOutputFolder,
                       QgsProcessingOutputString, QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterString)

from ...installer import dependencies
from ...installer.failures import explain
from ..algorithm import RsaiAlgorithm

TARGETS = ["CPU", "CUDA (NVIDIA GPU)"]
SETS = [dependencies.FULL, dependencies.ONNX_ONLY]


class InstallDependencies(RsaiAlgorithm):
    NAME = "install_dependencies"
    DISPLAY_NAME = "Install dependencies"
    GROUP = "Set-up"
    GROUP_ID = "setup"
    LOG_DEVICES = False

    def initAlgorithm(self, config=None):
        has_gpu = dependencies.nvidia_driver() is not None
        self.addParameter(QgsProcessingParameterEnum(
            "SET", self.tr("Packages"),
            options=[self.tr(dependencies.SETS[name][1]) for name in SETS], defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            "TARGET", self.tr("Build"), options=[self.tr(t) for t in TARGETS],
            defaultValue=1 if has_gpu else 0))
        self.addParameter(QgsProcessingParameterFile(
            "FOLDER", self.tr("Install folder"), behavior=QgsProcessingParameterFile.Folder,
            optional=True))
        advanced = [
            QgsProcessingParameterString(
                "PACKAGES", self.tr("Other packages (instead)"), optional=True),
            QgsProcessingParameterBoolean(
                "REINSTALL", self.tr("Reinstall the whole set"), defaultValue=False),
            QgsProcessingParameterString(
                "INDEX_URL", self.tr("Package index URL"), optional=True),
            QgsProcessingParameterString(
                "EXTRA_INDEX_URL", self.tr("Extra package index URL"), optional=True),
            QgsProcessingParameterFile(
                "FIND_LINKS", self.tr("Folder of wheel files"),
                behavior=QgsProcessingParameterFile.Folder, optional=True),
            QgsProcessingParameterBoolean(
                "NO_INDEX", self.tr("Only the wheel folder (offline)"), defaultValue=False),
        ]
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)
        self.addOutput(QgsProcessingOutputFolder("FOLDER", self.tr("Install folder")))
        self.addOutput(QgsProcessingOutputString("INSTALLED", self.tr("Installed packages")))

    def run_tool(self, parameters, context, callbacks):
        variant = dependencies.VARIANTS[self.parameterAsEnum(parameters, "TARGET", context)]
        if variant == dependencies.CUDA and dependencies.nvidia_driver() is None:
            callbacks.warn("no NVIDIA driver found on this machine; the CUDA builds will only "
                           "use a GPU once a driver is installed.")
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
            reinstall=self.parameterAsBool(parameters, "REINSTALL", context),
            package_set=SETS[self.parameterAsEnum(parameters, "SET", context)])
        callbacks.log(f"Installing {' '.join(plan.packages) or 'nothing'} ({variant}) into "
                      f"{plan.folder} with {plan.python}; pins: {', '.join(plan.constraints)}")
        output: list[str] = []

        def log(line: str) -> None:
            output.append(line)
            callbacks.log(line)

        code = dependencies.run(plan, log, callbacks.is_cancelled)
        if code == -1 and callbacks.is_cancelled():
            raise QgsProcessingException(self.tr("Cancelled: pip was stopped."))
        if code != 0:
            raise QgsProcessingException(explain("\n".join(output), code, str(plan.folder),
                                                 plan.constraints).message)
        return {"FOLDER": str(plan.folder), "INSTALLED": " ".join(plan.packages)}
