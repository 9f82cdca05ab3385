#!/usr/bin/env python3
"""``make deps``: install the plugin's runtime dependencies into its own folder, as the QGIS
dialog and rsai:install_dependencies do (run it with the Python QGIS uses; options: --help).

The checkout is imported as the package ``rsai_toolbox`` whatever its folder is called.
"""
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "rsai_toolbox", REPO / "__init__.py", submodule_search_locations=[str(REPO)])
package = importlib.util.module_from_spec(spec)
sys.modules["rsai_toolbox"] = package
spec.loader.exec_module(package)

from rsai_toolbox.installer.dependencies import main  # noqa: E402

sys.exit(main())
