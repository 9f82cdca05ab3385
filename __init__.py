"""Remote Sensing AI Toolbox: a QGIS plugin whose Processing provider (id ``rsai``) runs
remote-sensing AI models on local rasters.

Nothing here imports QGIS at module level, so the framework-free core under ``models/`` can be
imported from notebooks and worker processes as ``rsai_toolbox.models``.
"""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Called by QGIS (desktop with an iface, qgis_process with ``iface=None``)."""
    from .plugin.plugin import RsaiPlugin

    return RsaiPlugin(iface)
