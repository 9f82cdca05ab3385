"""The dependency installer with real pip: a wheel built here, installed offline
(--no-index --find-links) into a temporary folder, then imported through the plugin's own
sys.path function. Also the plan (pins, CPU/CUDA, the two package sets), the interpreter
lookup, and failed pip runs explained in plain words."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from qgis.core import QgsApplication

from rsai_toolbox import classFactory
from rsai_toolbox.installer import dependencies
from rsai_toolbox.installer.failures import explain

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
    assert command[command.index("--target") + 1] == str(tmp_path / "deps.staging")
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
    from qgis.gui import QgsCollapsibleGroupBox
    dialog.findChild(QgsCollapsibleGroupBox).setCollapsed(False)
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


def test_two_sets_everything_or_onnxruntime_only(tmp_path):
    onnx = dependencies.read_requirements(dependencies.set_file(dependencies.ONNX_ONLY))
    full = dependencies.read_requirements(dependencies.set_file(dependencies.FULL))
    names = {dependencies.requirement_name(r) for r in onnx}
    assert {"onnxruntime", "huggingface_hub"} <= names and "torch" not in names
    assert set(onnx) < set(full)  # runtime.txt includes onnx.txt and torch.txt
    assert "torch" in {dependencies.requirement_name(r) for r in full}
    plan = dependencies.make_plan("cpu", None, tmp_path / "deps", python=sys.executable,
                                  reinstall=True, package_set=dependencies.ONNX_ONLY)
    assert plan.packages == onnx and dependencies.TORCH_CPU_INDEX not in plan.command()


@pytest.fixture
def no_package_index(monkeypatch):
    """pip as on a machine without a network: no configured mirrors, an index that does not
    resolve, one quick retry."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_RETRIES", "1")  # one retry: pip then says why it failed
    monkeypatch.setenv("PIP_TIMEOUT", "3")


def test_failed_pip_runs_are_explained(tmp_path, no_package_index):
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "rsai_needs_old_numpy", "1.0", "", requires=("numpy==0.1",))
    conflict = dependencies.make_plan("cpu", ["rsai-needs-old-numpy"], tmp_path / "a",
                                      find_links=[str(wheels)], no_index=True)
    lines = []
    code = dependencies.run(conflict, lines.append)
    failure = explain("\n".join(lines), code, str(conflict.folder), conflict.constraints)
    assert code != 0 and failure.kind == "conflict"
    assert f"numpy=={numpy.__version__}" in failure.message
    assert "onnxruntime only, for ONNX models" in failure.message
    assert "ResolutionImpossible" not in failure.message

    offline = dependencies.make_plan("cpu", ["onnxruntime"], tmp_path / "b",
                                     index_url="https://rsai-no-such-host.invalid/simple")
    lines = []
    code = dependencies.run(offline, lines.append)
    failure = explain("\n".join(lines), code, str(offline.folder), offline.constraints)
    assert code != 0 and failure.kind == "network", "\n".join(lines)
    assert "offline wheels" in failure.message


def test_installer_dialog_explains_a_failure_and_offers_the_onnx_set(tmp_path, qgis_app):
    from rsai_toolbox.plugin.installer_dialog import InstallerDialog

    dialog = InstallerDialog()
    listed = lambda: {dialog.status.topLevelItem(i).text(0)  # noqa: E731
                      for i in range(dialog.status.topLevelItemCount())}
    assert "torch" in listed()
    dialog.onnx_set.setChecked(True)
    assert "torch" not in listed() and "onnxruntime" in listed()
    dialog.close()

    wheels = tmp_path / "wheels"
    make_wheel(wheels, "rsai_needs_old_numpy", "1.0", "", requires=("numpy==0.1",))
    dialog = InstallerDialog(packages=["rsai-needs-old-numpy"])
    dialog.folder.setFilePath(str(tmp_path / "deps"))
    dialog.find_links.setFilePath(str(wheels))
    dialog.no_index.setChecked(True)
    dialog.start()
    wait_until(lambda: dialog.exit_code is not None)
    assert dialog.exit_code != 0 and dialog.failure.kind == "conflict"
    assert not dialog.explanation.isHidden()
    assert dialog.explanation.text() == dialog.failure.message
    assert "ResolutionImpossible" in dialog.log.toPlainText()  # pip's details stay in the log
    dialog.resize(1000, 720)
    screenshot(dialog, "installer_failure")
    dialog.close()


def test_processing_tool_explains_a_failure(tmp_path, clean_path, qgis_processing,
                                            no_package_index):
    import processing
    from qgis.core import QgsProcessingException

    plugin = classFactory(None)
    plugin.initProcessing()
    try:
        with pytest.raises(QgsProcessingException, match="could not reach the package index"):
            processing.run("rsai:install_dependencies", {
                "TARGET": 0, "PACKAGES": "rsai-demo-four", "FOLDER": str(tmp_path / "deps"),
                "INDEX_URL": "https://rsai-no-such-host.invalid/simple"})
    finally:
        plugin.unload()
