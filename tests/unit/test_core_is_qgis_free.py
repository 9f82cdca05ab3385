"""The core under models/ must run without QGIS (notebooks, Dask workers)."""

import ast
import subprocess
import sys
from pathlib import Path

import rsai_toolbox

REPO = Path(rsai_toolbox.__file__).resolve().parent
PLUGINS_DIR = Path(rsai_toolbox.__file__).parents[1]  # the folder holding the plugin's link


def test_no_module_under_models_imports_qgis():
    offenders = []
    for path in (REPO / "models").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names
                          if n.split(".")[0] in ("qgis", "processing", "PyQt5", "PyQt6")]
    assert not offenders


def test_core_imports_in_a_plain_python_without_qgis_or_torch_loaded():
    code = ("import sys, rsai_toolbox.models.registry, rsai_toolbox.models.runtime.engine;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('qgis', 'torch', 'onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(PLUGINS_DIR)}, check=True).stdout
    assert out.strip() == "[]"
