"""Installing the plugin's Python packages (onnxruntime, torch, ...) with pip, without QGIS or a
GUI: used by the desktop dialog (plugin/), the Processing tool rsai:install_dependencies and
``make deps`` alike, so it lives beside them rather than inside any one of them."""
