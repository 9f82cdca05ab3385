"""The plugin in a QGIS desktop (stub iface, offscreen): loads, adds its menu and toolbar,
registers the provider, unloads cleanly; every tool has help, a help page and an icon."""

import sys
from pathlib import Path

import pytest
from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtWidgets import QPushButton

from rsai_toolbox import classFactory
from rsai_toolbox.plugin import dependencies

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desktop_support import REPO, screenshot  # noqa: E402


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


def test_missing_packages_are_reported_in_the_message_bar(qgis_iface, tmp_path, monkeypatch):
    requirements = tmp_path / "runtime.txt"
    requirements.write_text("# test\nrsai-no-such-package>=1.0\nnumpy\n")
    monkeypatch.setattr(dependencies, "RUNTIME_REQUIREMENTS", requirements)
    bar = qgis_iface.messageBar()
    plugin = classFactory(qgis_iface)
    assert plugin.report_missing_dependencies() == ["rsai-no-such-package>=1.0"]
    item = bar.currentItem()
    try:
        assert "rsai-no-such-package" in item.text() and item.level() == Qgis.Warning
        button = item.findChild(QPushButton, "rsai_install_button")
        assert button is not None and button.text() == "Install…"
    finally:
        bar.popWidget(item)


def test_packages_folder_goes_on_sys_path_at_load(qgis_iface, tmp_path, monkeypatch):
    folder = tmp_path / "deps"
    folder.mkdir()
    monkeypatch.setenv(dependencies.DEPS_ENV, str(folder))
    monkeypatch.setattr(sys, "path", list(sys.path))
    classFactory(qgis_iface)
    assert sys.path[-1] == str(folder)


def test_every_tool_has_help_page_and_icon(qgis_processing):
    plugin = classFactory(None)
    plugin.initProcessing()
    problems = []
    try:
        for algorithm in plugin.provider.algorithms():
            name = algorithm.name()
            page = REPO / "docs" / "tools" / f"{name}.md"
            if len(algorithm.shortHelpString()) < 80:
                problems.append(f"{name}: HELP is missing or too short")
            if not page.is_file():
                problems.append(f"{name}: docs/tools/{name}.md is missing")
            elif algorithm.helpUrl() != page.as_uri():
                problems.append(f"{name}: helpUrl is not its page")
            if algorithm.icon_path().name == "rsai.svg":
                problems.append(f"{name}: no icon resources/icons/{name}.svg")
            elif algorithm.icon().isNull():
                problems.append(f"{name}: icon does not load")
    finally:
        plugin.unload()
    assert not problems, "\n".join(problems)


def test_run_model_dialog_screenshot(qgis_iface, qgis_processing, monkeypatch):
    import processing
    from qgis.gui import QgsBrowserGuiModel

    # The stub iface has no browser model; Processing's parameter panel asks for one.
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    plugin = classFactory(qgis_iface)
    plugin.initGui()
    try:
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
    finally:
        plugin.unload()


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
