"""The fusion network the runtime can load torch weights into (see runtime/architectures.py)."""

from ..runtime.architectures import Architecture

ARCHITECTURES = {
    # DeepLabV3+ with the satellite branch; kwargs: classes, aerial_channels, satellite_channels,
    # ratio, encoder_name, fusion (network.FusionDeepLabV3Plus). smp never downloads weights.
    "fusion_deeplabv3plus": Architecture(".fusion.network:build_fusion_deeplabv3plus"),
}
