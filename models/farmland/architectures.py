"""The farmland networks the runtime can load weights into (see runtime/architectures.py)."""

from ..runtime.architectures import Architecture

ARCHITECTURES = {
    # Fields of The World U-Net (smp Unet, efficientnet-b3, 8 bands); kwargs: num_classes.
    "ftw_unet": Architecture(".farmland.ftw:build_ftw_unet",
                             read_weights=".farmland.ftw:load_ftw_state_dict"),
}
