"""The plugin object QGIS creates: registers the Processing provider, and the desktop
menu when there is a desktop (``iface`` is None under qgis_process).

The plugin's own packages folder (plugin/dependencies.py) goes on ``sys.path`` first thing, in
the constructor that classFactory calls, before any tool can import torch or onnxruntime.
Missing packages are reported in the message bar with a button to the installer; nothing opens
a dialog without the user asking (and never under qgis_process).
"""

from pathlib import Path

from qgis.core import Qgis, QgsApplication
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QMenu, QPushButton, QToolButton

from . import dependencies

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def tr(text: str) -> str:
    return QCoreApplication.translate("RsaiPlugin", text)


class RsaiPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.actions = []
        self.toolbar = None
        self.tools_menu = None
        self.dialogs = []  # keep non-modal dialogs alive
        dependencies.activate()

    # -- Processing ---------------------------------------------------------------------------
    def initProcessing(self):
        if self.provider is not None:
            return
        dependencies.activate()
        from ..processing_provider.provider import RsaiProvider

        self.provider = RsaiProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    # -- desktop ------------------------------------------------------------------------------
    @property
    def menu_name(self) -> str:
        return tr("&Remote Sensing AI Toolbox")

    def initGui(self):
        self.initProcessing()
        if self.iface is None:
            return
        self.toolbar = self.iface.addToolBar(tr("Remote Sensing AI Toolbox"))
        self.toolbar.setObjectName("RsaiToolbar")

        manager = self._action("model_manager.svg", tr("Model manager…"), self.open_model_manager)
        installer = self._action("install_dependencies.svg", tr("Install dependencies…"),
                                 self.open_installer)
        self.tools_menu = QMenu(tr("Tools"), self.iface.mainWindow())
        self.tools_menu.setIcon(QIcon(str(ICONS / "rsai.svg")))
        for algorithm in sorted(self.provider.algorithms(),
                                key=lambda a: (a.group(), a.displayName())):
            action = QAction(algorithm.icon(), algorithm.displayName() + "…",
                             self.iface.mainWindow())
            action.setObjectName(f"rsai_{algorithm.name()}")
            action.setToolTip(algorithm.displayName())
            action.triggered.connect(
                lambda _checked=False, algorithm_id=algorithm.id(): self.open_tool(algorithm_id))
            self.tools_menu.addAction(action)
            self.actions.append(action)
        tools_action = self.tools_menu.menuAction()
        for action in (tools_action, manager, installer):
            self.iface.addPluginToMenu(self.menu_name, action)

        button = QToolButton(self.toolbar)
        button.setMenu(self.tools_menu)
        button.setPopupMode(QToolButton.InstantPopup)
        button.setIcon(QIcon(str(ICONS / "rsai.svg")))
        button.setToolTip(tr("Remote Sensing AI Toolbox tools"))
        self.toolbar.addWidget(button)
        self.toolbar.addAction(manager)
        self.actions += [tools_action, manager, installer]
        self.report_missing_dependencies()

    def _action(self, icon: str, text: str, slot) -> QAction:
        action = QAction(QIcon(str(ICONS / icon)), text, self.iface.mainWindow())
        action.setObjectName("rsai_" + Path(icon).stem)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def unload(self):
        for action in self.actions:
            if self.iface is not None:
                self.iface.removePluginMenu(self.menu_name, action)
        self.actions = []
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.tools_menu is not None:
            self.tools_menu.deleteLater()
            self.tools_menu = None
        for dialog in self.dialogs:
            dialog.close()
        self.dialogs = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    # -- what the entries open ----------------------------------------------------------------
    def report_missing_dependencies(self) -> list[str]:
        """A message bar warning with an Install… button when runtime packages are missing."""
        missing = dependencies.missing()
        if missing and self.iface is not None:
            bar = self.iface.messageBar()
            title = tr("Remote Sensing AI Toolbox")
            text = tr("Python packages the models need are missing: {}.").format(
                ", ".join(dependencies.requirement_name(m) for m in missing))
            item = QgsMessageBar.createMessage(title, text)
            button = QPushButton(tr("Install…"), item)
            button.setObjectName("rsai_install_button")
            button.clicked.connect(self.open_installer)
            item.layout().addWidget(button)
            bar.pushWidget(item, Qgis.Warning, 0)
        return missing

    def open_tool(self, algorithm_id: str):
        import processing

        return processing.execAlgorithmDialog(algorithm_id, {})

    def open_model_manager(self):
        from .model_manager import ModelManagerDialog

        dialog = ModelManagerDialog(parent=self.iface.mainWindow())
        self.dialogs.append(dialog)
        dialog.show()
        return dialog

    def open_installer(self):
        from .installer_dialog import InstallerDialog

        dialog = InstallerDialog(parent=self.iface.mainWindow())
        self.dialogs.append(dialog)
        dialog.show()
        return dialog
