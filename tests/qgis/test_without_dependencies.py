"""The plugin in a QGIS whose Python has none of the plugin's packages (a fresh install from the
plugin zip): every menu entry opens and says what is missing, the message bar names only what
is really missing and fits the window, tools say which packages they need before they start,
and the Bayesian training says which report rows it had to drop without scikit-learn.

The outer test runs the inner ones with QGIS's own interpreter (the one the .venv was made
from) and only the test runner on its path: a real environment without the packages, not one
with imports blocked.
"""

import importlib.metadata as metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desktop_support import desktop, screenshot  # noqa: E402,F401

REPO = Path(__file__).resolve().parents[2]
INNER = os.environ.get("RSAI_WITHOUT_DEPENDENCIES") == "1"
inner = pytest.mark.skipif(not INNER, reason="run by test_everything_works_without_the_packages")
RUNNER = ("_pytest", "pytest", "py.py", "pluggy", "iniconfig", "pytest_qgis")  # and dist-infos
PACKAGES = ("onnxruntime", "huggingface_hub", "torch", "scikit-learn", "tokenizers")


def qgis_python() -> Path:
    """The interpreter QGIS's Python is (the base of this virtual environment)."""
    return Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


def installed(package: str) -> bool:
    try:
        metadata.version(package)
        return True
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(INNER, reason="the outer test")
def test_everything_works_without_the_packages(tmp_path):
    site = Path(next(p for p in sys.path if p.endswith("site-packages") and ".venv" in p))
    runner = tmp_path / "runner"
    runner.mkdir()
    for entry in site.iterdir():
        name = entry.name.split("-")[0] if entry.name.endswith(".dist-info") else entry.name
        if name in RUNNER or name.replace("_", "") in {"pytest", "pytestqgis"}:
            (runner / entry.name).symlink_to(entry)
    check = subprocess.run([str(qgis_python()), "-s", "-c", "import sys, importlib.util; "
                            f"print([p for p in {PACKAGES!r} if not importlib.util.find_spec("
                            "{'scikit-learn': 'sklearn'}.get(p, p))])"],
                           capture_output=True, text=True, env={"PYTHONPATH": ""})
    if check.returncode != 0 or check.stdout.strip() == "[]":
        pytest.skip(f"{qgis_python()} has every package: no environment without them here")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PYTHONPATH=str(runner), PYTHONNOUSERSITE="1", RSAI_WITHOUT_DEPENDENCIES="1",
               RSAI_DEPS_DIR=str(tmp_path / "no-deps"), RSAI_CACHE_DIR=str(tmp_path / "cache"),
               QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([str(qgis_python()), "-s", "-m", "pytest", "-q", "-p",
                             "no:cacheprovider", "-rs", str(Path(__file__))],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "3 passed" in output and "skipped" not in output.replace("1 skipped", ""), output


@inner
def test_every_menu_entry_opens_and_says_what_is_missing(desktop, qgis_iface):
    import processing
    from qgis.PyQt.QtCore import QCoreApplication
    from qgis.PyQt.QtWidgets import QPushButton

    missing = desktop.missing_packages()
    assert missing and all(not installed(package) for package in missing)
    assert "huggingface_hub" in missing or installed("huggingface_hub")
    item = qgis_iface.messageBar().currentItem()
    assert item is not None and "make deps" not in item.text() and "`" not in item.text()
    assert item.toolTip() == desktop.missing_packages_details(missing)
    from test_desktop_plugin import message_width
    assert message_width(item) <= 980  # beside the docks of a 1280 px window
    assert {b.objectName() for b in item.findChildren(QPushButton)} >= {
        "rsai_install_button", "rsai_details_button"}
    details = desktop.missing_packages_details(missing)
    assert "Install dependencies…" in details and "make deps" not in details
    for package, uses in missing.items():
        assert f"{package}, needed by: {'; '.join(uses)}" in details

    for action in desktop.tools_menu.actions():  # each menu entry's tool dialog
        algorithm_id = "rsai:" + action.objectName().removeprefix("rsai_")
        dialog = processing.createAlgorithmDialog(algorithm_id)
        assert dialog is not None, algorithm_id
        dialog.show()
        QCoreApplication.processEvents()
        dialog.close()

    manager = desktop.open_model_manager()
    QCoreApplication.processEvents()
    if "huggingface_hub" in missing:
        assert manager.notice.isVisible() and "huggingface_hub" in manager.notice_label.text()
        # a pinned Hub file's cache state needs huggingface_hub to read (an open revision's
        # is known without it: nothing was pinned, so nothing is cached)
        assert all(row.cache_unknown for row in manager.rows if row.card.weights
                   and row.card.weights.is_hub and not row.card.weights.revision_open)
    screenshot(manager, "no_dependencies_model_manager")
    installer = desktop.open_installer()
    states = {installer.status.topLevelItem(i).text(0): installer.status.topLevelItem(i).text(3)
              for i in range(installer.status.topLevelItemCount())}
    assert all(states.get(package) == "missing" for package in missing if package in states)
    screenshot(installer, "no_dependencies_installer")


@inner
def test_tools_say_which_packages_they_need_before_starting(desktop, tmp_path):
    import processing
    from osgeo import gdal
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException

    registry = QgsApplication.processingRegistry()
    for algorithm in desktop.provider.algorithms():
        lacking = [p for p in algorithm.REQUIRES if not installed(p)]
        ok, message = registry.algorithmById(algorithm.id()).checkParameterValues(
            {}, QgsProcessingContext())
        if lacking:
            assert not ok and all(p in message for p in lacking), message
            assert "Install dependencies…" in message and "make deps" not in message
    if not installed("huggingface_hub"):
        with pytest.raises(QgsProcessingException, match="Download model weights needs the "
                                                         "Python package huggingface_hub"):
            processing.run("rsai:download_model", {"MODEL": "ftw-3class"})
        # a tool that needs it for some models only says so when it gets to the download
        scene = tmp_path / "scene.tif"
        gdal.GetDriverByName("GTiff").Create(str(scene), 8, 8, 8, gdal.GDT_UInt16)
        with pytest.raises(QgsProcessingException, match="huggingface_hub is needed for models "
                                                         "on the Hugging Face Hub.*Install "
                                                         "dependencies…"):
            processing.run("rsai:run_model", {"INPUT": str(scene), "MODEL": "ftw-3class",
                                              "OUTPUT": str(tmp_path / "out.tif")})


@inner
def test_bayes_training_without_scikit_learn_says_what_it_dropped(desktop, tmp_path,
                                                                  shared_data):
    import processing
    from qgis.core import QgsProcessingFeedback

    from helpers import landcover_geotiff, landcover_polygons

    if installed("scikit-learn"):
        pytest.skip("scikit-learn is installed in QGIS's Python here")

    class Warnings(QgsProcessingFeedback):
        messages = []

        def pushWarning(self, text):
            self.messages.append(text)

    feedback = Warnings()
    scene = landcover_geotiff(shared_data, tmp_path / "scene.tif")
    result = processing.run("rsai:bayes_landcover_train", {
        "INPUT": str(scene), "TRAINING": str(landcover_polygons(shared_data)),
        "CLASS_FIELD": "LULC_ID", "OUTPUT_MODEL": str(tmp_path / "model.json"),
        "OUTPUT_REPORT": str(tmp_path / "report.html")}, feedback=feedback)
    said = [m for m in feedback.messages if "scikit-learn is not installed" in m]
    assert said and "QDA and random-forest rows" in said[0]
    report = Path(result["OUTPUT_REPORT"]).read_text()
    assert "scikit-learn is not installed" in report and "RandomForest" not in report
    assert result["OVERALL_ACCURACY"] > 0.5  # the Bayesian model itself is there
