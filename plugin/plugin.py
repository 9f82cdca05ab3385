"""The plugin object QGIS creates: registers the Processing provider, and the desktop
menu when there is a desktop (``iface`` is None under qgis_process)."""

from qgis.core import QgsApplication


class RsaiPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):
        from ..processing_provider.provider import RsaiProvider

        self.provider = RsaiProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
