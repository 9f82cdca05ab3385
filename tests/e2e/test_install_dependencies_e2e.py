"""rsai:install_dependencies through real qgis_process: offline wheels folder, QGIS's Python."""

import sys
from pathlib import Path

from helpers import qgis_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qgis"))
from desktop_support import make_wheel  # noqa: E402


def test_installs_offline_wheel_with_qgis_python(tmp_path):
    make_wheel(tmp_path / "wheels", "rsai_demo_e2e", "2.0.0", "OK = True\n")
    result = qgis_process(
        "run", "rsai:install_dependencies", "--", "TARGET=0", "PACKAGES=rsai-demo-e2e",
        f"FOLDER={tmp_path / 'deps'}", f"FIND_LINKS={tmp_path / 'wheels'}", "NO_INDEX=true",
        env={"QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "qgis")})
    assert "Successfully installed rsai-demo-e2e-2.0.0" in result.stdout
    assert "numpy==" in result.stdout  # QGIS's numpy pinned
    assert (tmp_path / "deps" / "rsai_demo_e2e" / "__init__.py").is_file()
    # the interpreter that ran pip is QGIS's own (not a pyenv shim or a venv found on PATH)
    python = next(line for line in result.stdout.splitlines() if line.startswith("Running: "))
    assert " -m pip install " in python and "shims" not in python
