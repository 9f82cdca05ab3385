"""The Processing provider ``rsai``: registers every tool and the provider's settings."""

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from . import settings
from .algorithms.batch_run import BatchRun
from .algorithms.bayes_landcover_classify import BayesLandcoverClassify
from .algorithms.bayes_landcover_train import BayesLandcoverTrain
from .algorithms.download_model import DownloadModel
from .algorithms.embed_image_chips import EmbedImageChips
from .algorithms.farmland_prompt_mask import FarmlandPromptMask
from .algorithms.farmland_segmentation import FarmlandSegmentation
from .algorithms.fusion_landcover import FusionLandcover
from .algorithms.install_dependencies import InstallDependencies
from .algorithms.pansharpen import Pansharpen
from .algorithms.pansharpening_quality import PansharpeningQuality
from .algorithms.polygonize_fields import PolygonizeFields
from .algorithms.run_model import RunModel
from .algorithms.sea_ice_scores import SeaIceScores
from .algorithms.sea_ice_types import SeaIceTypes
from .algorithms.soil_predict import SoilPredict
from .algorithms.soil_train import SoilTrain
from .algorithms.text_search import TextSearch
from .algorithms.zero_shot_classify import ZeroShotClassify

ALGORITHMS = (RunModel, DownloadModel, InstallDependencies,
              FarmlandSegmentation, PolygonizeFields, FarmlandPromptMask,
              BayesLandcoverTrain, BayesLandcoverClassify, FusionLandcover,
              Pansharpen, PansharpeningQuality,
              SeaIceTypes, SeaIceScores,
              EmbedImageChips, TextSearch, ZeroShotClassify, SoilTrain, SoilPredict, BatchRun)


class RsaiProvider(QgsProcessingProvider):
    def id(self):
        return "rsai"

    def name(self):
        return "Remote Sensing AI Toolbox"

    def longName(self):
        return self.name()

    def icon(self):
        return QIcon(str(Path(__file__).resolve().parents[1] / "resources" / "icons" / "rsai.svg"))

    def load(self):
        settings.register()
        self.refreshAlgorithms()
        return True

    def unload(self):
        settings.unregister()

    def loadAlgorithms(self):
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
