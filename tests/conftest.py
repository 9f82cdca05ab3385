"""Shared test set-up: make the plugin importable as the package ``rsai_toolbox``.

The repository root *is* the plugin, so tests import it the way QGIS does: through a folder
(build/plugins) that holds a link named after the plugin.
"""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "rsai_toolbox"
PLUGINS_DIR = REPO / "build" / "plugins"
SHARED_DATA = Path(os.environ.get("RSAI_SHARED_DATA", REPO.parent / "shared" / "data"))


def _link_plugin() -> None:
    PLUGINS_DIR.mkdir(parents=True, exist_ok=True)
    link = PLUGINS_DIR / PLUGIN_NAME
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    if str(PLUGINS_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGINS_DIR))


_link_plugin()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample data beside the checkout; required in CI, skipped (loudly) elsewhere."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the real sample data at {SHARED_DATA}")
        pytest.skip(f"real sample data not found at {SHARED_DATA} (outside CI this test is skipped)")
    return SHARED_DATA


@pytest.fixture
def provider(qgis_processing, tmp_path, monkeypatch):
    """The plugin's Processing provider inside QGIS (tests/qgis), with a weights cache of the
    test's own, removed after the test."""
    from rsai_toolbox import classFactory
    monkeypatch.setenv("RSAI_CACHE_DIR", str(tmp_path / "cache"))
    plugin = classFactory(None)
    plugin.initProcessing()
    yield plugin.provider
    plugin.unload()
