"""The plugin object QGIS creates: registers the Processing provider, and the desktop
menu when there is a desktop (``iface`` is None under qgis_process).

The plugin's own packages folder (installer/dependencies.py) goes on ``sys.path`` first thing, in
the constructor that classFactory calls, before any tool can import torch or onnxruntime.
Missing packages are reported in the message bar (what is missing, for how many tools) with
buttons to the installer and to the details; nothing opens a dialog without the user asking
(and never under qgis_process). Every menu entry opens without the packages.
"""

from pathlib import Path

from qgis.core import Qgis, QgsApplication
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QMenu, QMessageBox, QPushButton, QToolButton

from ..installer import dependencies

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def tr(text: str) -> str:
    return QCoreApplication.translate("RsaiPlugin", text)


class RsaiPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.examples = None  # the provider of the example graphical models
        self.actions = []
        self.toolbar = None
        self.tools_menu = None
        self.dialogs = []  # keep non-modal dialogs alive
        self.weights_digests = {}  # the model manager's sha256 memo, kept between openings
        dependencies.activate()

    # -- Processing ---------------------------------------------------------------------------
    def initProcessing(self):
        if self.provider is not None:
            return
        dependencies.activate()
        from ..processing_provider.example_models import ExampleModelsProvider
        from ..processing_provider.provider import RsaiProvider

        self.provider = RsaiProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)
        self.examples = ExampleModelsProvider()  # after the tools its models use
        QgsApplication.processingRegistry().addProvider(self.examples)

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
        if self.examples is not None:
            QgsApplication.processingRegistry().removeProvider(self.examples)
            self.examples = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

    # -- what the entries open ----------------------------------------------------------------
    def missing_packages(self) -> dict[str, list[str]]:
        """Each Python package some tool needs that is not installed (or too old), with the
        tools it stops ("Tool") or the features it removes ("Tool: what")."""
        needs: dict[str, list[str]] = {}
        for algorithm in sorted(self.provider.algorithms(), key=lambda a: a.displayName()):
            for package in algorithm.REQUIRES:
                needs.setdefault(package, []).append(algorithm.displayName())
            for package, what in algorithm.OPTIONAL.items():
                needs.setdefault(package, []).append(f"{algorithm.displayName()}: {what}")
        return {package: needs[package] for package in dependencies.missing_packages(needs)}

    def report_missing_dependencies(self) -> dict[str, list[str]]:
        """A short message bar warning (fits a 1280 px window) with Install… and Details…
        buttons when packages some tools need are missing; returns what is missing."""
        missing = self.missing_packages()
        if missing and self.iface is not None:
            # Short, to fit beside the docks of a 1280 px window; the packages and the tools
            # that need them are in the tooltip and behind Details….
            tools = {tool.split(":")[0] for uses in missing.values() for tool in uses}
            text = (tr("1 tool needs Python packages that are missing.") if len(tools) == 1
                    else tr("{} tools need Python packages that are missing.").format(
                        len(tools)))
            item = QgsMessageBar.createMessage(tr("Remote Sensing AI Toolbox"), text)
            item.setToolTip(self.missing_packages_details(missing))
            for label, name, slot in (
                    (tr("Install…"), "rsai_install_button", self.open_installer),
                    (tr("Details…"), "rsai_details_button",
                     lambda: QMessageBox.information(
                         self.iface.mainWindow(), tr("Missing Python packages"),
                         self.missing_packages_details(missing)))):
                button = QPushButton(label, item)
                button.setObjectName(name)
                button.clicked.connect(lambda _checked=False, slot=slot: slot())
                item.layout().addWidget(button)
            self.iface.messageBar().pushWidget(item, Qgis.Warning, 0)
        return missing

    @staticmethod
    def missing_packages_details(missing: dict[str, list[str]]) -> str:
        lines = [tr("{}, needed by: {}").format(package, "; ".join(uses))
                 for package, uses in missing.items()]
        return "\n".join(lines + ["", tr(
            "Install them from Plugins > Remote Sensing AI Toolbox > Install dependencies… "
            "(choose 'onnxruntime only, for ONNX models' for a small install without PyTorch). "
            "The other tools work without them.")])

    def open_tool(self, algorithm_id: str):
        import processing

        return processing.execAlgorithmDialog(algorithm_id, {})

    def open_model_manager(self):
        from ..processing_provider import settings
        from .model_catalog import ModelCatalog
        from .model_manager import ModelManagerDialog

        # one sha256 memo for every opening: cached files are hashed once per QGIS session
        catalog = ModelCatalog(settings.weights_store(digests=self.weights_digests),
                               settings.user_cards_dir())
        dialog = ModelManagerDialog(catalog, parent=self.iface.mainWindow(),
                                    install=self.open_installer)
        self.dialogs.append(dialog)
        dialog.show()
        return dialog

    def open_installer(self):
        from .installer_dialog import InstallerDialog

        dialog = InstallerDialog(parent=self.iface.mainWindow())
        self.dialogs.append(dialog)
        dialog.show()
        return dialog
