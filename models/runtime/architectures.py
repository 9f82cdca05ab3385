"""Network architectures that non-ONNX weights are loaded into, by the name a card gives.

Each entry names ``module:function`` and is imported only when a card asks for it, so the
registry costs nothing at start-up and needs no global state: a worker process resolves the same
name to the same builder.
"""

from __future__ import annotations

import importlib

from ..errors import UserError

ARCHITECTURES = {
    # segmentation_models_pytorch networks, built with the card's kwargs.
    "smp.Unet": "segmentation_models_pytorch:Unet",
    "smp.UnetPlusPlus": "segmentation_models_pytorch:UnetPlusPlus",
    "smp.DeepLabV3Plus": "segmentation_models_pytorch:DeepLabV3Plus",
    "smp.FPN": "segmentation_models_pytorch:FPN",
}


def build_architecture(name: str | None, kwargs: dict | None = None):
    """Instantiate the named network with the card's keyword arguments."""
    if name not in ARCHITECTURES:
        raise UserError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    module_name, function = ARCHITECTURES[name].split(":")
    if module_name.startswith("."):
        module = importlib.import_module(module_name, package=__package__.rsplit(".", 1)[0])
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise UserError(f"{module_name} is needed for architecture {name} but is not "
                            "installed; run the tool rsai:install_dependencies.")
    return getattr(module, function)(**(kwargs or {}))
