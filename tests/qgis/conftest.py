"""Fixtures for tests that run the tools inside QGIS (pytest-qgis)."""

import pytest

from rsai_toolbox import classFactory


@pytest.fixture
def provider(qgis_processing):
    """The plugin's Processing provider, registered for the test and removed after it."""
    plugin = classFactory(None)
    plugin.initProcessing()
    yield plugin.provider
    plugin.unload()
