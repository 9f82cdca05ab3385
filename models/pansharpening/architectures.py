"""The pansharpening networks the runtime can load weights into (see runtime/architectures.py)."""

from ..runtime.architectures import Architecture

# ADWM networks; kwargs: name, ms_bands.
ARCHITECTURES = {name: Architecture(".pansharpening.adwm:build_adwm")
                 for name in ("adwm_fusionnet", "adwm_lagconv", "adwm_lgpnet")}
