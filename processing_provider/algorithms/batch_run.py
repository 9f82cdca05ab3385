"""rsai:batch_run: one tool over many scenes on Dask (models/batch), resumable, with a manifest."""

import json

from qgis.core import (QgsProcessingOutputFile, QgsProcessingOutputNumber,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ...models.batch import BatchSpec, run_batch
from ...models.errors import UserError
from ..algorithm import RsaiAlgorithm
from .. import settings


class BatchRun(RsaiAlgorithm):
    NAME = "batch_run"
    DISPLAY_NAME = "Run a tool over many scenes (Dask)"
    REQUIRES = ("distributed",)
    LOG_DEVICES = False  # the workers choose their devices

    def initAlgorithm(self, config=None):
        def string(name, label, default=None, optional=False, multiline=False):
            self.addParameter(QgsProcessingParameterString(
                name, self.tr(label), defaultValue=default, multiLine=multiline,
                optional=optional))

        def number(name, label, default, minimum, advanced=True):
            parameter = QgsProcessingParameterNumber(
                name, self.tr(label), QgsProcessingParameterNumber.Integer, default,
                minValue=minimum)
            if advanced:
                parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
            self.addParameter(parameter)

        string("TOOL", "Tool", "rsai:run_model")
        string("PARAMETERS", "Tool parameters (JSON)", "{}", multiline=True)
        string("SCENES", "Scenes (glob, list or STAC)")
        string("SCENE_PARAMETER", "Scene parameter", "INPUT")
        string("ASSET", "STAC asset", optional=True)
        self.addParameter(QgsProcessingParameterFolderDestination(
            "OUTPUT_FOLDER", self.tr("Output folder")))
        string("SCHEDULER", "Scheduler address", optional=True)
        number("WORKERS", "Workers", 2, 1, advanced=False)
        number("THREADS_PER_WORKER", "Threads per worker", 1, 1)
        number("GPUS_PER_WORKER", "GPUs per worker", 0, 0)
        number("RETRIES", "Retries", 2, 0)
        self.addOutput(QgsProcessingOutputFile("OUTPUT_MANIFEST", self.tr("Manifest")))
        for name, label in (("DONE", "Scenes done"), ("SKIPPED", "Scenes skipped"),
                            ("FAILED", "Scenes failed")):
            self.addOutput(QgsProcessingOutputNumber(name, self.tr(label)))

    def run_tool(self, parameters, context, callbacks):
        text = self.parameterAsString(parameters, "PARAMETERS", context) or "{}"
        try:
            tool_parameters = json.loads(text)
        except ValueError as exc:
            raise UserError(f"PARAMETERS is not JSON ({exc}); give an object such as "
                            '{"MODEL": "model.onnx"}.')
        spec = BatchSpec(
            tool=self.parameterAsString(parameters, "TOOL", context),
            parameters=tool_parameters,
            scenes=self.parameterAsString(parameters, "SCENES", context),
            output_folder=self.parameterAsString(parameters, "OUTPUT_FOLDER", context),
            cache_dir=str(settings.cache_dir()),
            scene_parameter=self.parameterAsString(parameters, "SCENE_PARAMETER", context),
            asset=self.parameterAsString(parameters, "ASSET", context),
            scheduler=self.parameterAsString(parameters, "SCHEDULER", context),
            workers=self.parameterAsInt(parameters, "WORKERS", context),
            threads_per_worker=self.parameterAsInt(parameters, "THREADS_PER_WORKER", context),
            gpus_per_worker=self.parameterAsInt(parameters, "GPUS_PER_WORKER", context),
            retries=self.parameterAsInt(parameters, "RETRIES", context),
            card_dirs=(str(settings.user_cards_dir()),), offline=settings.offline_setting())
        summary = run_batch(spec, callbacks)
        callbacks.log(f"{summary.done} scenes done, {summary.skipped} skipped, "
                      f"{summary.failed} failed; manifest {summary.manifest}")
        return {"OUTPUT_MANIFEST": summary.manifest, "DONE": summary.done,
                "SKIPPED": summary.skipped, "FAILED": summary.failed,
                "OUTPUT_FOLDER": spec.output_folder}
