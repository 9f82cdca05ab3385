"""rsai:bayes_landcover_classify: classify a raster with a trained Bayesian land-cover model."""

from pathlib import Path

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ...models.landcover_bayes import classify_raster, load_model
from .. import styles
from ..algorithm import RsaiAlgorithm
from .bayes_landcover_train import (CITATION, add_uncertainty_parameters,
                                    measurement_uncertainty)


class BayesLandcoverClassify(RsaiAlgorithm):
    NAME = "bayes_landcover_classify"
    DISPLAY_NAME = "Classify with Bayesian land cover model"
    GROUP = "Land cover"
    GROUP_ID = "landcover"
    ICON = "bayes_landcover_classify.svg"
    LOG_DEVICES = False

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Input raster")))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model (.json)"), extension="json"))
        add_uncertainty_parameters(self)
        self.addParameter(QgsProcessingParameterRasterLayer(
            "MASK", self.tr("Mask (0: skip)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Classes")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_UNCERTAINTY", self.tr("Uncertainty"),
            optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("CLASSIFIED_PIXELS",
                                                 self.tr("Classified pixels")))

    def run_tool(self, parameters, context, callbacks):
        raster = self.parameterAsRasterLayer(parameters, "INPUT", context).source()
        model_file = self.parameterAsFile(parameters, "MODEL", context)
        model = load_model(model_file)
        mask = self.parameterAsRasterLayer(parameters, "MASK", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        probabilities = self.parameterAsOutputLayer(parameters, "OUTPUT_PROBABILITIES", context)
        uncertainty = self.parameterAsOutputLayer(parameters, "OUTPUT_UNCERTAINTY", context)
        result = classify_raster(
            model, raster, output, probabilities_path=probabilities or None,
            uncertainty_path=uncertainty or None, mask_path=mask.source() if mask else None,
            uncertainty=measurement_uncertainty(self, parameters, context),
            callbacks=callbacks.part(0, 0.95))
        callbacks.log(f"{result.valid_pixels} pixels classified into {model.n_classes} classes "
                      f"({', '.join(model.class_names)})")
        callbacks.log(f"Please cite {CITATION}")
        qml = styles.write_class_style(output, list(zip(
            model.class_ids.tolist(), model.class_names, model.colours)))
        about = Path(model_file).stem
        styles.style_on_load(context, output, qml, f"Classes ({about})")
        results = {"OUTPUT": output, "CLASSIFIED_PIXELS": result.valid_pixels}
        for name, path, label, qml in (
                ("OUTPUT_PROBABILITIES", probabilities, "Class probabilities",
                 probabilities and styles.write_probability_style(probabilities)),
                ("OUTPUT_UNCERTAINTY", uncertainty, "Uncertainty",
                 uncertainty and styles.write_value_style(uncertainty))):
            if path:
                styles.style_on_load(context, path, qml, f"{label} ({about})", below=output)
                results[name] = path
        return results
