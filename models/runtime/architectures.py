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
    # ADWM pansharpening networks (kwargs: name, ms_bands); a leading "." is relative to models/.
    "adwm_fusionnet": ".pansharpening.adwm:build_adwm",
    "adwm_lagconv": ".pansharpening.adwm:build_adwm",
    "adwm_lgpnet": ".pansharpening.adwm:build_adwm",
    # Fields of The World U-Net (smp Unet, efficientnet-b3, 8 bands); kwargs: num_classes.
    "ftw_unet": ".farmland.ftw:build_ftw_unet",
}


# Architectures whose published checkpoints need their own reader (a function from the weights
# path to a plain state dict, e.g. unwrapping Lightning checkpoints); others use torch.load.
STATE_DICT_READERS = {
    "ftw_unet": ".farmland.ftw:load_ftw_state_dict",
}


def state_dict_reader(name: str | None):
    """The architecture's own state-dict reader, or None for a plain torch.load."""
    if name not in STATE_DICT_READERS:
        return None
    module_name, function = STATE_DICT_READERS[name].split(":")
    module = importlib.import_module(module_name, package=__package__.rsplit(".", 1)[0])
    return getattr(module, function)


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
