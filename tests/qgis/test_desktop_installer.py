"""The dependency installer with real pip: a wheel built here, installed offline
(--no-index --find-links) into a temporary folder, then imported through the plugin's own
sys.path function. Also the plan (pins, CPU/CUDA) and the interpreter lookup."""

import importlib
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from qgis.core import QgsApplication

from rsai_toolbox import classFactory
from rsai_toolbox.plugin import dependencies

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desktop_support import make_wheel, screenshot, wait_until  # noqa: E402


@pytest.fixture
def clean_path(monkeypatch):
    """Whatever a test adds to sys.path / sys.modules is gone afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("rsai_demo"):
            del sys.modules[name]


def test_constraints_pin_installed_versions():
    pins = dependencies.constraints_for_installed(["numpy", "rsai-no-such-package"])
    assert pins == [f"numpy=={numpy.__version__}"]
    assert f"numpy=={numpy.__version__}" in dependencies.constraints_for_installed()


def test_finds_real_python_when_running_inside_qgis_binary():
    python = dependencies.find_python("/usr/bin/qgis", sys.base_prefix, sys.exec_prefix,
                                      sys.platform)
    assert python is not None and Path(python).name.startswith("python")
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == str(tuple(sys.version_info[:2]))


def test_plans_for_cpu_and_cuda(tmp_path):
    wanted = ["torch==2.4.1", "onnxruntime>=1.16", "timm>=0.9"]
    cpu = dependencies.make_plan("cpu", wanted, tmp_path / "deps", python=sys.executable)
    command = cpu.command()
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(tmp_path / "deps")
    assert command[command.index("--extra-index-url") + 1] == dependencies.TORCH_CPU_INDEX
    assert "torch==2.4.1+cpu" in cpu.constraints
    assert f"numpy=={numpy.__version__}" in cpu.constraints
    assert command[-3:] == wanted
    cuda = dependencies.make_plan("cuda", wanted, tmp_path / "deps", python=sys.executable)
    assert dependencies.TORCH_CPU_INDEX not in cuda.command()
    assert cuda.packages == ["torch==2.4.1", "onnxruntime-gpu>=1.16", "timm>=0.9"]
    assert not any("+cpu" in c for c in cuda.constraints)


def test_installs_a_wheel_offline_and_the_plugin_imports_it(tmp_path, clean_path):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "rsai_demo_one", "1.2.0", "VALUE = 42\n")
    folder = tmp_path / "deps" / "py3"
    plan = dependencies.make_plan("cpu", ["rsai-demo-one>=1.1"], folder,
                                  find_links=[str(wheels)], no_index=True)
    lines = []
    assert dependencies.run(plan, lines.append) == 0, "\n".join(lines)
    assert any("Successfully installed rsai-demo-one-1.2.0" in line for line in lines)
    assert (folder / "rsai_demo_one" / "__init__.py").is_file()
    assert plan.constraints_file.read_text().startswith("numpy==")
    # run() activated the folder; do it again through the function the plugin calls at load
    assert dependencies.activate(folder) == folder and sys.path.count(str(folder)) == 1
    assert importlib.import_module("rsai_demo_one").VALUE == 42
    assert dependencies.missing(["rsai-demo-one>=1.1"]) == []
    assert dependencies.missing(["rsai-demo-one>=2"]) == ["rsai-demo-one>=2"]


def test_processing_tool_installs_offline(tmp_path, clean_path, qgis_processing):
    import processing

    wheels = tmp_path / "wheels"
    make_wheel(wheels, "rsai_demo_two", "0.3.0", "NAME = 'two'\n")
    plugin = classFactory(None)
    plugin.initProcessing()
    try:
        result = processing.run("rsai:install_dependencies", {
            "TARGET": 0, "PACKAGES": "rsai-demo-two", "FOLDER": str(tmp_path / "deps"),
            "FIND_LINKS": str(wheels), "NO_INDEX": True})
    finally:
        plugin.unload()
    assert result == {"FOLDER": str(tmp_path / "deps"), "INSTALLED": "rsai-demo-two"}
    assert importlib.import_module("rsai_demo_two").NAME == "two"


def test_installer_dialog_streams_pip_and_screenshot(tmp_path, clean_path, qgis_app):
    from rsai_toolbox.plugin.installer_dialog import InstallerDialog

    wheels = tmp_path / "wheels"
    make_wheel(wheels, "rsai_demo_three", "3.0.0", "NUMBER = 3\n")
    dialog = InstallerDialog(packages=["rsai-demo-three", "numpy"])
    assert dialog.install_button.isEnabled() and "1 package" in dialog.install_button.text()
    assert dialog.cuda.isEnabled() == (dependencies.nvidia_driver() is not None)
    dialog.folder.setFilePath(str(tmp_path / "deps"))
    dialog.find_links.setFilePath(str(wheels))
    dialog.no_index.setChecked(True)
    dialog.start()
    assert dialog.cancel_button.isEnabled()
    wait_until(lambda: dialog.exit_code is not None)
    log = dialog.log.toPlainText()
    assert dialog.exit_code == 0, log
    assert "Successfully installed rsai-demo-three-3.0.0" in log
    assert importlib.import_module("rsai_demo_three").NUMBER == 3
    assert not dialog.install_button.isEnabled()  # nothing left to install
    dialog.findChild(type(dialog.layout().itemAt(4).widget())).setCollapsed(False)
    dialog.resize(1000, 720)
    screenshot(dialog, "installer")
    dialog.close()


def test_installer_dialog_cancel_stops_pip(tmp_path, qgis_app):
    from rsai_toolbox.plugin.installer_dialog import InstallerDialog

    dialog = InstallerDialog(packages=["rsai-demo-never"])
    dialog.folder.setFilePath(str(tmp_path / "deps"))
    # an unreachable index: pip retries, the user cancels
    dialog.start()
    dialog.cancel()
    wait_until(lambda: dialog.exit_code is not None, timeout=30)
    assert dialog.exit_code != 0
    assert "Cancelling" in dialog.log.toPlainText()
    assert not (tmp_path / "deps" / "rsai_demo_never").exists()
