"""GDAL, OGR and OSR raising Python exceptions for the toolbox's own work only.

``gdal.UseExceptions()`` at import would switch exceptions on for every plugin in the QGIS
process, for good. Instead each tool run and each core entry point runs inside
``gdal_exceptions()``, which restores the previous setting afterwards (GDAL 3.7's
``gdal.ExceptionMgr`` does the same, but Debian 12 ships GDAL 3.6). It works as a context
manager and as a decorator.
"""

from __future__ import annotations

import contextlib

from osgeo import gdal, ogr, osr

_MODULES = (gdal, ogr, osr)


@contextlib.contextmanager
def gdal_exceptions():
    before = [module.GetUseExceptions() for module in _MODULES]
    for module in _MODULES:
        module.UseExceptions()
    try:
        yield
    finally:
        # GDAL < 3.7 keeps one stack of error handlers: undo in reverse order
        for module, was_on in reversed(list(zip(_MODULES, before))):
            if not was_on:
                module.DontUseExceptions()
