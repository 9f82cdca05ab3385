"""Parameters the three CLIP tools share, so their names and meanings stay the same: the chip
parameters (how a raster is cut into chips) and INDEX / INPUT (where a search's chips come
from)."""

from qgis.core import (QgsProcessing, QgsProcessingParameterBand,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterVectorLayer)

from ..models.clip.chips import ChipOptions
from ..models.clip.tools import DEFAULT_MODEL, ChipSource
from .algorithm import RsaiAlgorithm
from .vectors import layer_file


class ClipAlgorithm(RsaiAlgorithm):
    """What the three CLIP tools declare alike: their group, packages and local-weights hint."""

    GROUP = "Search imagery with words"
    GROUP_ID = "clip"
    REQUIRES = ("torch", "open-clip-torch")
    OPTIONAL = {"huggingface_hub": "downloading the CLIP weights"}
    LOCAL_WEIGHTS = ("Or add the downloaded weights as a model card .json whose local_weights "
                     "names the file, and give that card as MODEL.")


def add_chip_parameters(algorithm, advanced: bool = False) -> None:
    """BANDS, CHIP_SIZE, STRIDE, RESOLUTION, MASK, STRETCH_MAX, DEVICE, BATCH_SIZE (all but
    DEVICE advanced when the raster is optional, i.e. for searches that embed on the fly)."""
    parameters = [
        QgsProcessingParameterBand("BANDS", algorithm.tr("Red, green and blue bands"), None,
                                   "INPUT", optional=True, allowMultiple=True),
        _integer("CHIP_SIZE", algorithm.tr("Chip size (px)"), 16),
        _integer("STRIDE", algorithm.tr("Chip stride (px)"), 1),
        QgsProcessingParameterNumber("RESOLUTION", algorithm.tr("Resample to pixel size (m)"),
                                     QgsProcessingParameterNumber.Double, None, optional=True,
                                     minValue=0.0),
        QgsProcessingParameterFeatureSource("MASK", algorithm.tr("Only chips inside polygons"),
                                            [QgsProcessing.TypeVectorPolygon], optional=True)]
    stretch = QgsProcessingParameterNumber(
        "STRETCH_MAX", algorithm.tr("Value shown as white"),
        QgsProcessingParameterNumber.Double, None, optional=True, minValue=0.0)
    stretch.setFlags(stretch.flags() | stretch.FlagAdvanced)
    for parameter in parameters:
        if advanced:
            parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
        algorithm.addParameter(parameter)
    algorithm.addParameter(stretch)
    algorithm.add_device_parameter()
    batch = QgsProcessingParameterNumber("BATCH_SIZE", algorithm.tr("Chips per forward pass"),
                                         QgsProcessingParameterNumber.Integer, 16, minValue=1)
    batch.setFlags(batch.flags() | batch.FlagAdvanced)
    algorithm.addParameter(batch)


def add_model_parameter(algorithm, optional: bool) -> None:
    """MODEL: the CLIP cards in the drop-down; optional for searches (the index's model)."""
    algorithm.add_model_parameter(("embedding",), default=None if optional else DEFAULT_MODEL,
                                  optional=optional)


def add_source_parameters(algorithm) -> None:
    """INDEX (a stored index) or INPUT (a raster embedded now)."""
    algorithm.addParameter(QgsProcessingParameterVectorLayer(
        "INDEX", algorithm.tr("Chip index"),
        [QgsProcessing.TypeVectorPolygon], optional=True))
    algorithm.addParameter(QgsProcessingParameterRasterLayer(
        "INPUT", algorithm.tr("Or a raster to embed now"), optional=True))


def chip_options(algorithm, parameters, context, log) -> ChipOptions:
    mask = layer_file(algorithm, parameters, "MASK", context, log)
    return ChipOptions(
        bands=algorithm.parameterAsInts(parameters, "BANDS", context) or None,
        chip_size=_optional_int(algorithm, parameters, "CHIP_SIZE", context),
        stride=_optional_int(algorithm, parameters, "STRIDE", context),
        resolution=_optional_float(algorithm, parameters, "RESOLUTION", context),
        mask=mask if mask[0] else None,
        stretch_max=_optional_float(algorithm, parameters, "STRETCH_MAX", context))


def chip_source(algorithm, parameters, context, log) -> ChipSource:
    index = layer_file(algorithm, parameters, "INDEX", context, log)
    raster = algorithm.parameterAsRasterLayer(parameters, "INPUT", context)
    return ChipSource(index=index if index[0] else None,
                      raster=raster.source() if raster is not None else None,
                      options=chip_options(algorithm, parameters, context, log),
                      batch_size=algorithm.parameterAsInt(parameters, "BATCH_SIZE", context))


def _integer(name, label, minimum):
    return QgsProcessingParameterNumber(name, label, QgsProcessingParameterNumber.Integer, None,
                                        optional=True, minValue=minimum)


def _optional_int(algorithm, parameters, name, context):
    value = parameters.get(name)
    return None if value in (None, "") else algorithm.parameterAsInt(parameters, name, context)


def _optional_float(algorithm, parameters, name, context):
    value = parameters.get(name)
    return None if value in (None, "") else algorithm.parameterAsDouble(parameters, name, context)
