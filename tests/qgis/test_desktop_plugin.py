"""The plugin in a QGIS desktop (stub iface, offscreen): loads, adds its menu and toolbar,
registers the providers, unloads cleanly; every tool's help is its docs page, rendered, and
matches its parameters; labels are short; missing packages are reported in a message that
fits the window."""

import sys
from pathlib import Path

import pytest
from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtWidgets import QPushButton

from rsai_toolbox import classFactory
from rsai_toolbox.installer import dependencies

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desktop_support import REPO, desktop, screenshot  # noqa: E402,F401


def message_width(item) -> int:
    """Pixels the message bar item needs on one line (icon, title and text, buttons, close)
    at QGIS's default font size, 10 pt (the offscreen platform's default is larger)."""
    from qgis.PyQt.QtGui import QFont, QFontMetrics

    font = QFont(item.font().family(), 10)
    for widget in [item, *item.findChildren(QPushButton)]:
        widget.setFont(font)
    text = QFontMetrics(font).horizontalAdvance(f"{item.title()}: {item.text()}")
    return 80 + text + sum(b.sizeHint().width() for b in item.findChildren(QPushButton))


def provider_registered(provider) -> bool:
    return any(p is provider for p in QgsApplication.processingRegistry().providers())


def test_plugin_loads_and_unloads_with_desktop(qgis_iface, qgis_processing):
    plugin = classFactory(qgis_iface)
    plugin.initGui()
    try:
        assert provider_registered(plugin.provider)
        names = {a.name() for a in plugin.provider.algorithms()}
        assert {"run_model", "download_model", "install_dependencies"} <= names
        # one menu entry per tool (in the Tools submenu) + model manager + installer
        tool_actions = plugin.tools_menu.actions()
        assert {a.objectName() for a in tool_actions} == {f"rsai_{n}" for n in names}
        assert {a.objectName() for a in plugin.actions} >= {"rsai_model_manager",
                                                            "rsai_install_dependencies"}
        assert plugin.toolbar is not None and plugin.toolbar.objectName() == "RsaiToolbar"
        assert len(plugin.toolbar.actions()) == 2  # tools drop-down, model manager
    finally:
        provider = plugin.provider
        plugin.unload()
    assert plugin.provider is None and not provider_registered(provider)
    assert plugin.actions == [] and plugin.toolbar is None


def test_headless_plugin_never_builds_gui():
    """qgis_process: iface is None; initGui/initProcessing register the tools only."""
    plugin = classFactory(None)
    plugin.initProcessing()
    plugin.initGui()
    try:
        assert provider_registered(plugin.provider)
        assert plugin.toolbar is None and plugin.actions == [] and plugin.dialogs == []
    finally:
        plugin.unload()


def test_missing_packages_are_reported_in_the_message_bar(qgis_iface, qgis_processing,
                                                         monkeypatch):
    """Only the packages a tool declares and that are really missing, with the tools that need
    them; no shell commands for zip users; fits a 1280 px window."""
    from rsai_toolbox.processing_provider.algorithms.polygonize_fields import PolygonizeFields
    from rsai_toolbox.processing_provider.algorithms.run_model import RunModel

    monkeypatch.setattr(PolygonizeFields, "REQUIRES", ("rsai-no-such-package",))
    monkeypatch.setattr(RunModel, "OPTIONAL", RunModel.OPTIONAL | {"rsai-no-such-package": "x"})
    bar = qgis_iface.messageBar()
    plugin = classFactory(None)
    plugin.initProcessing()
    plugin.iface = qgis_iface
    try:
        missing = plugin.report_missing_dependencies()
        item = bar.currentItem()
        assert missing == {"rsai-no-such-package": ["Polygonize fields", "Run a model on a "
                                                    "raster: x"]}
        assert item.level() == Qgis.Warning
        assert item.text() == "2 tools need Python packages that are missing."
        assert "make deps" not in item.toolTip() and "Install dependencies…" in item.toolTip()
        assert "Polygonize fields" in item.toolTip()
        buttons = {b.objectName(): b.text() for b in item.findChildren(QPushButton)}
        assert buttons["rsai_install_button"] == "Install…"
        assert buttons["rsai_details_button"] == "Details…"
        assert message_width(item) <= 980  # beside the docks of a 1280 px window
    finally:
        bar.popWidget(bar.currentItem())
        plugin.iface = None
        plugin.unload()


def test_packages_folder_goes_on_sys_path_at_load(qgis_iface, tmp_path, monkeypatch):
    folder = tmp_path / "deps"
    folder.mkdir()
    monkeypatch.setenv(dependencies.DEPS_ENV, str(folder))
    monkeypatch.setattr(sys, "path", list(sys.path))
    classFactory(qgis_iface)
    assert str(folder) not in sys.path  # no completion marker: a half-made install
    (folder / dependencies.MARKER).write_text("{}")
    classFactory(qgis_iface)
    assert sys.path[-1] == str(folder)


def test_help_is_the_docs_page_rendered_and_matches_the_parameters(qgis_processing):
    """docs/tools/<tool>.md is the one source: the panel and the Help page are rendered from it
    (no Markdown left), and it names every parameter with its dialog label and every enum
    option with its index (what qgis_process takes)."""
    from qgis.core import QgsProcessingParameterEnum
    from qgis.PyQt.QtCore import QUrl

    plugin = classFactory(None)
    plugin.initProcessing()
    problems = []
    try:
        for algorithm in plugin.provider.algorithms():
            name = algorithm.name()
            panel = algorithm.shortHelpString()
            if not (REPO / "docs" / "tools" / f"{name}.md").is_file():
                problems.append(f"{name}: docs/tools/{name}.md is missing")
                continue
            if "\n" in panel or "**" in panel or "`" in panel or "<li>" not in panel:
                problems.append(f"{name}: the panel's help is not rendered HTML")
            for parameter in algorithm.parameterDefinitions():
                label = f"<b>{parameter.description()}</b>"
                if f"<code>{parameter.name()}</code>" not in panel or label not in panel:
                    problems.append(f"{name}: help lacks {label} (<code>{parameter.name()}</code>)")
                if isinstance(parameter, QgsProcessingParameterEnum):
                    for index, option in enumerate(parameter.options()):
                        if f"<code>{index}</code> {option}" not in panel:
                            problems.append(f"{name}: help lacks {parameter.name()} {index} {option}")
            url = QUrl(algorithm.helpUrl())
            page = Path(url.toLocalFile())
            if not (url.isLocalFile() and page.suffix == ".html" and page.is_file()):
                problems.append(f"{name}: helpUrl {url.toString()} is not an HTML page")
            elif f"rsai:{name}" not in page.read_text() or "<h2>" not in page.read_text():
                problems.append(f"{name}: its HTML page is not the rendered docs page")
            if algorithm.icon_path().name == "rsai.svg":
                problems.append(f"{name}: no icon resources/icons/{name}.svg")
            elif algorithm.icon().isNull():
                problems.append(f"{name}: icon does not load")
    finally:
        plugin.unload()
    assert not problems, "\n".join(problems)


def test_readme_lists_every_enum_with_its_indices(qgis_processing):
    from qgis.core import QgsProcessingParameterEnum

    readme = (REPO / "README.md").read_text()
    plugin = classFactory(None)
    plugin.initProcessing()
    problems = []
    try:
        for algorithm in plugin.provider.algorithms():
            for parameter in algorithm.parameterDefinitions():
                if not isinstance(parameter, QgsProcessingParameterEnum):
                    continue
                values = ", ".join(f"`{i}` {o}" for i, o in enumerate(parameter.options()))
                if f"| `{parameter.name()}` | {values} |" not in readme:
                    problems.append(f"{algorithm.name()} {parameter.name()}: {values}")
    finally:
        plugin.unload()
    assert not problems, "README's enum table lacks:\n" + "\n".join(problems)


def test_labels_are_short(qgis_processing):
    """Labels fit the dialog at its default width (the details are in the help)."""
    plugin = classFactory(None)
    plugin.initProcessing()
    try:
        long = [f"{a.name()} {p.name()}: {p.description()!r}"
                for a in plugin.provider.algorithms() for p in a.parameterDefinitions()
                if len(p.description()) > 36]
    finally:
        plugin.unload()
    assert not long, "\n".join(long)


def test_run_model_dialog_screenshot(desktop):
    import processing

    dialog = processing.createAlgorithmDialog("rsai:run_model")
    assert dialog is not None
    dialog.resize(1100, 720)
    path = screenshot(dialog, "tool_run_model")
    assert path.stat().st_size > 10_000
    dialog.close()
    dialog = processing.createAlgorithmDialog("rsai:install_dependencies")
    dialog.resize(1100, 720)
    screenshot(dialog, "tool_install_dependencies")
    dialog.close()


def test_every_run_logs_the_devices(qgis_processing, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    from helpers import conv_onnx

    class Log(QgsProcessingFeedback):
        lines = []

        def pushInfo(self, info):
            self.lines.append(info)

    conv_onnx(tmp_path / "m.onnx", 3, 2)
    plugin = classFactory(None)
    plugin.initProcessing()
    try:
        feedback = Log()
        result = processing.run("rsai:download_model", {"MODEL": str(tmp_path / "m.onnx")},
                                feedback=feedback)
    finally:
        plugin.unload()
    assert result["WEIGHTS"] == str(tmp_path / "m.onnx")
    assert feedback.lines[0].startswith("Devices: onnxruntime ")
    assert "ExecutionProvider" in feedback.lines[0]
