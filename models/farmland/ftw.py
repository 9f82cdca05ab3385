"""Fields of The World (FTW) U-Net: architecture, checkpoint loading and input checks.

FTW (Kerner et al., arXiv 2409.16252) segments fields from two Sentinel-2 L2A dates stacked as
8 bands: B04, B03, B02, B08 of window A (planting) then the same of window B (harvest), raw DN
(reflectance x 10000) divided by 3000, into background / field / boundary (3-class) or
background / field (2-class).

Published weights (CC-BY-4.0, Hugging Face ``torchgeo/ftw``, e.g.
``commercial/3-class/sentinel2_unet_effb3-5d591cbb.pth``) are *plain* state dicts of an smp Unet
with un-prefixed keys (``encoder.*``, ``decoder.*``, ``segmentation_head.0.*``): torchgeo's
``torchgeo/models/unet.py`` loads ``weights.get_state_dict()`` into ``smp.create_model('Unet',
...)`` with ``strict=True`` and no renaming. The ftw-baselines training code instead writes
Lightning checkpoints (``{"state_dict": {"model.encoder...", "criterion.weight"}, ...}``; see
``ftw_tools/inference/models.py::load_model_from_checkpoint``). ``load_ftw_state_dict`` accepts
both and returns the plain layout.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import UserError

# Where the weights live, their scale (DN / 3000), bands and classes: models/cards/ftw-*.json.
ENCODER = "efficientnet-b3"
IN_CHANNELS = 8
FTW_BANDS = ("B04", "B03", "B02", "B08")  # per window; window A first, then window B
CLASS_NAMES = {3: ("background", "field", "boundary"), 2: ("background", "field")}

# Prefixes that wrap the smp keys in training checkpoints: LightningModule attribute
# ("model."), DataParallel/DDP ("module."), torch.compile ("_orig_mod.").
_PREFIXES = ("model.", "module.", "_orig_mod.")
# Loss-function buffers saved by the ftw-baselines Lightning task; not part of the network.
_NON_MODEL_KEYS = ("criterion.", "ce_loss.", "loss.")


def build_ftw_unet(num_classes: int):
    """The FTW network: smp Unet, efficientnet-b3 encoder, 8 input bands, no pretrained download."""
    if num_classes not in CLASS_NAMES:
        raise UserError(f"FTW models have 2 or 3 classes, not {num_classes}")
    import segmentation_models_pytorch as smp

    return smp.Unet(encoder_name=ENCODER, encoder_weights=None, in_channels=IN_CHANNELS,
                    classes=num_classes)


def load_ftw_state_dict(path: str | Path) -> dict:
    """Read FTW weights safely (``weights_only=True``) and return smp Unet keys.

    Accepts a plain state dict (the torchgeo/ftw Hub files), a Lightning checkpoint
    (``state_dict`` entry, ``model.`` prefix, loss buffers) or a ``module.``-prefixed dict.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"FTW weights file {path} does not exist; download it or pick another file")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, zip errors, truncated downloads
        raise UserError(
            f"could not read FTW weights {path} safely ({type(exc).__name__}: {exc}). Use the "
            "state-dict .pth files from huggingface.co/torchgeo/ftw, or re-save a Lightning "
            "checkpoint as torch.save(ckpt['state_dict'], 'model.pth')") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(hasattr(v, "shape") for v in obj.values()):
        raise UserError(f"{path} is not a state dict of tensors (got {type(obj).__name__})")

    state = {k: v for k, v in obj.items() if not k.startswith(_NON_MODEL_KEYS)}
    changed = True
    while changed:  # strip stacked wrappers such as "model.module."
        changed = False
        for prefix in _PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                changed = True
    return state


# Band-name aliases. Codes are matched before colour names so that "B04 (red)" and "red" both
# work, while a red-edge band ("B05 red edge") never passes for red.
_CODES = {
    "B02": {"b2", "b02"}, "B03": {"b3", "b03"}, "B04": {"b4", "b04"},
    "B08": {"b8", "b08"}, "B8A": {"b8a"},
}
_NAMES = {"B02": {"blue"}, "B03": {"green"}, "B04": {"red"}, "B08": {"nir"}, "B8A": set()}
_NOT_BY_NAME = {"edge", "rededge", "narrow", "b8a", "swir"}


def _tokens(description: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", description.lower()))


def match_bands(descriptions: list[str], wanted=FTW_BANDS) -> list[int]:
    """0-based indices of ``wanted`` Sentinel-2 bands among raster band ``descriptions``.

    Accepts "B4", "B04", "b04 (red)", "Red", "NIR" ... case-insensitively; the first matching
    band wins. Raises UserError naming every band that could not be found.
    """
    tokens = [_tokens(d or "") for d in descriptions]
    found, missing = [], []
    for band in wanted:
        key = band.upper()
        if key not in _CODES and re.fullmatch(r"B0?\d", key):
            key = f"B{int(key[1:]):02d}"
        codes = _CODES.get(key, {key.lower()})
        names = _NAMES.get(key, set())
        index = next((i for i, t in enumerate(tokens) if t & codes), None)
        if index is None and names:
            index = next((i for i, t in enumerate(tokens) if t & names and not t & _NOT_BY_NAME),
                         None)
        if index is None:
            missing.append(band)
        else:
            found.append(index)
    if missing:
        raise UserError(
            f"band(s) {', '.join(missing)} not found among the band descriptions "
            f"{list(descriptions)}; name the bands (e.g. 'B04', 'red') or choose them by number")
    return found


def looks_like_reflectance_0_1(sample: np.ndarray) -> bool:
    """True when values look like reflectance scaled to 0-1 rather than DN (x 10000).

    FTW expects L2A DN (vegetation NIR ~ 2000-5000); 0-1 reflectance divided by 3000 would feed
    the network near-zero input and silently yield 'background'. Zeros (nodata) and non-finite
    values are ignored; the 99th percentile of the rest at or below 1.5 flags 0-1 data.
    """
    values = np.asarray(sample, dtype=np.float64).ravel()
    values = values[np.isfinite(values) & (values != 0)]
    if values.size == 0:
        return False
    return bool(np.percentile(values, 99) <= 1.5)
