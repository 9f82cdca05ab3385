"""rsai:bayes_landcover_classify: classify a raster with a trained Bayesian land-cover model."""

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ...models.landcover_bayes import UNCERTAINTY_BANDS, classify_raster, load_model
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
    HELP = f"""Classifies a raster, block by block, with a model from <i>Train Bayesian land \
cover classifier</i> and writes the most probable class, optionally every class's probability \
and three uncertainty measures.

<b>Model</b>: per class a multivariate Student-t posterior predictive (from a \
Normal-Inverse-Wishart prior and posterior) and a Dirichlet class prior; P(class | pixel) is \
their normalised product. The measurement covariance diag(sigma^2) given here is added to each \
class's predictive scale, so uncertain pixels get less confident probabilities.

<b>Input raster</b>: the same bands, in the same order, as the training raster.
<b>Model</b>: the .json file written by the train tool.
<b>Measurement uncertainty</b> (optional): a raster with one sigma band per input band, and/or \
<i>UNCERTAINTY_SIGMA</i>: per-band constants "0.01,0.02,..." or a relative percentage "5%".
<b>Mask</b> (optional): a one-band raster on the same grid; pixels where it is 0 are not \
classified.

Outputs: a Byte class raster with the model's colours and class names (nodata 255); class \
probabilities (Float32, one band per class, named); uncertainty (Float32, 3 bands: {", ".join(
        UNCERTAINTY_BANDS)}). Float nodata is -9999. NaN / nodata input pixels are nodata in \
every output; all outputs keep the input's CRS and grid.

Cite: {CITATION}."""

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", self.tr("Input raster")))
        self.addParameter(QgsProcessingParameterFile(
            "MODEL", self.tr("Model (.json from the train tool)"), extension="json"))
        add_uncertainty_parameters(self)
        self.addParameter(QgsProcessingParameterRasterLayer(
            "MASK", self.tr("Mask (0 = do not classify)"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", self.tr("Classes")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_PROBABILITIES", self.tr("Class probabilities"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT_UNCERTAINTY", self.tr("Uncertainty (entropy, 1 - max p, margin)"),
            optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("CLASSIFIED_PIXELS",
                                                 self.tr("Classified pixels")))

    def run_tool(self, parameters, context, callbacks):
        raster = self.parameterAsRasterLayer(parameters, "INPUT", context).source()
        model = load_model(self.parameterAsFile(parameters, "MODEL", context))
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
        styles.style_on_load(context, output, qml)
        results = {"OUTPUT": output, "CLASSIFIED_PIXELS": result.valid_pixels}
        for name, path in (("OUTPUT_PROBABILITIES", probabilities),
                           ("OUTPUT_UNCERTAINTY", uncertainty)):
            if path:
                styles.style_on_load(context, path, styles.write_value_style(path))
                results[name] = path
        return results
