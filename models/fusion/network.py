"""DeepLabV3+ with a satellite branch: aerial + Sentinel-2 land cover in one network.

After Berka, El Hajji, Canals, Es-saady, Hafiane, "Enhancing DeepLabV3+ to Fuse Aerial and
Satellite Images for Semantic Segmentation" (arXiv:2503.22909, 2025). The paper adds to
DeepLabV3+ a block of transposed convolutions that upsamples a second input (Sentinel-2) and
fuses it with the high-level features of the aerial image. No code or weights are public, and
the paper's abstract is all we could read, so the details below are our own documented choices:

* Aerial branch: smp's DeepLabV3+ unchanged (any smp encoder, output stride 16). The
  *high-level features* are the ASPP output (stride 16, 256 channels): the deepest, most
  semantic aerial features, before the decoder joins them with the stride-4 low-level ones.
* Satellite branch (``SatelliteUpsampler``): a 3x3 convolution at the satellite's own
  resolution (spectral features), then ``k`` transposed convolutions (kernel 2, stride 2: each
  satellite pixel becomes exactly 2 x 2 pixels, no overlap, no checkerboard) with batch norm
  and ReLU, ``k = max(1, ceil(log2(ratio / 16)))``. A satellite tile of ``T / ratio`` pixels
  becomes ``T / ratio * 2**k`` pixels; a bilinear resize (half-pixel centres, which keeps the
  two grids' extents on each other) then brings it to the ``T / 16`` grid of the aerial
  features. For the paper's ratios (25-50 cm aerial vs 10 m Sentinel-2: 20-40) this is one or
  two transposed convolutions; for ratio 32 the resize is the identity. Any integer ratio
  works: ratios below 16 (satellite finer than the aerial features) are shrunk by the resize.
* Fusion (``fusion``): ``"concat"`` (default) concatenates the satellite features to the ASPP
  output and a 1x1 convolution + BN + ReLU maps them back to 256 channels, so the rest of the
  DeepLabV3+ decoder is unchanged; ``"add"`` projects the satellite features to 256 channels
  and adds them.

Constraints (checked by ``check_tile``): the aerial tile is a multiple of the encoder's output
stride (16) and of the ratio; the satellite tile is exactly ``aerial tile / ratio``.

With ``satellite_channels=0`` the network is plain DeepLabV3+ on the aerial image (single-source
mode, ``forward(aerial)``): the same state-dict keys as ``smp.DeepLabV3Plus``.

``encoder_weights`` is never passed to smp (it would download): pretrained encoders come through
the project's weights store (``load_encoder_weights``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import UserError

FUSIONS = ("concat", "add")


def transposed_steps(ratio: int, output_stride: int = 16) -> int:
    """Stride-2 transposed convolutions that bring a satellite tile to (or past) the aerial
    high-level grid: at least one (the paper's block), more for ratios above 2 x stride."""
    return max(1, math.ceil(math.log2(ratio / output_stride)))


class SatelliteUpsampler(nn.Module):
    """Satellite tile (N, C, T/r, T/r) -> features (N, F, h, w) on the aerial feature grid."""

    def __init__(self, in_channels: int, features: int, ratio: int, output_stride: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, features, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(features), nn.ReLU())
        self.up = nn.Sequential(*[
            layer for _ in range(transposed_steps(ratio, output_stride)) for layer in (
                nn.ConvTranspose2d(features, features, kernel_size=2, stride=2, bias=False),
                nn.BatchNorm2d(features), nn.ReLU())])

    def forward(self, satellite: torch.Tensor, size) -> torch.Tensor:
        x = self.up(self.stem(satellite))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class FusionDeepLabV3Plus(nn.Module):
    """DeepLabV3+ (smp) whose high-level aerial features are fused with a satellite input."""

    def __init__(self, classes: int, aerial_channels: int = 3, satellite_channels: int = 0,
                 ratio: int = 32, encoder_name: str = "resnet18", fusion: str = "concat",
                 satellite_features: int = 64, decoder_channels: int = 256):
        super().__init__()
        import segmentation_models_pytorch as smp

        if fusion not in FUSIONS:
            raise UserError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
        if int(ratio) != ratio or ratio < 1:
            raise UserError(f"the satellite ratio must be a whole number >= 1, not {ratio}")
        self.ratio, self.fusion = int(ratio), fusion
        try:
            base = smp.DeepLabV3Plus(encoder_name=encoder_name, encoder_weights=None,
                                     in_channels=aerial_channels, classes=classes,
                                     decoder_channels=decoder_channels)
        except (KeyError, ValueError) as exc:
            raise UserError(f"cannot build DeepLabV3+ with encoder {encoder_name!r}: {exc}. "
                            "Use an encoder name that segmentation_models_pytorch lists.") from exc
        self.encoder, self.decoder = base.encoder, base.decoder
        self.segmentation_head = base.segmentation_head
        self.output_stride = int(self.encoder.output_stride)
        self.satellite = self.fuse = None
        if satellite_channels:
            width = satellite_features if fusion == "concat" else decoder_channels
            self.satellite = SatelliteUpsampler(satellite_channels, width, self.ratio,
                                                self.output_stride)
            if fusion == "concat":
                self.fuse = nn.Sequential(
                    nn.Conv2d(decoder_channels + width, decoder_channels, 1, bias=False),
                    nn.BatchNorm2d(decoder_channels), nn.ReLU())

    @property
    def tile_multiple(self) -> int:
        """Aerial tile sizes must be a multiple of this (output stride and, fused, the ratio)."""
        if self.satellite is None:
            return self.output_stride
        return math.lcm(self.output_stride, self.ratio)

    def check_tile(self, aerial_shape, satellite_shape=None) -> None:
        """UserError unless the tile is a multiple of the stride (and ratio) and the satellite
        tile is the aerial tile / ratio."""
        h, w = aerial_shape[-2:]
        if h % self.tile_multiple or w % self.tile_multiple:
            raise UserError(f"aerial tiles of {h} x {w} pixels do not fit this model: use a tile "
                            f"size that is a multiple of {self.tile_multiple}")
        if self.satellite is None:
            return
        expected = (h // self.ratio, w // self.ratio)
        if satellite_shape is None or tuple(satellite_shape[-2:]) != expected:
            got = "none" if satellite_shape is None else tuple(satellite_shape[-2:])
            raise UserError(f"the satellite tile must be {expected} pixels (aerial tile / ratio "
                            f"{self.ratio}), got {got}")

    def forward(self, aerial: torch.Tensor, satellite: torch.Tensor | None = None) -> torch.Tensor:
        features = self.encoder(aerial)
        high = self.decoder.aspp(features[-1])
        if self.satellite is not None:
            sat = self.satellite(satellite, high.shape[-2:])
            high = self.fuse(torch.cat([high, sat], 1)) if self.fuse is not None else high + sat
        high = self.decoder.up(high)
        low = self.decoder.block1(features[2])
        return self.segmentation_head(self.decoder.block2(torch.cat([high, low], 1)))


def build_fusion_deeplabv3plus(**kwargs) -> FusionDeepLabV3Plus:
    """Architecture builder for cards (``architecture.kwargs`` are the constructor's)."""
    return FusionDeepLabV3Plus(**kwargs)


def input_names(model: FusionDeepLabV3Plus) -> list[str]:
    """The ONNX / card input names, in forward order."""
    return ["aerial"] if model.satellite is None else ["aerial", "satellite"]


def export_fusion_onnx(model: FusionDeepLabV3Plus, path, tile_size: int, aerial_channels: int,
                       satellite_channels: int = 0, card: dict | None = None):
    """ONNX with named inputs ``aerial`` (and ``satellite``) and output ``output``; dynamic
    batch and tile size (any size that ``check_tile`` accepts); ``card`` embedded."""
    from ..runtime.onnx_export import export_onnx

    examples = {"aerial": torch.zeros(1, aerial_channels, tile_size, tile_size)}
    if model.satellite is not None:
        side = tile_size // model.ratio
        examples["satellite"] = torch.zeros(1, satellite_channels, side, side)
    model.check_tile(examples["aerial"].shape,
                     examples["satellite"].shape if "satellite" in examples else None)
    return export_onnx(model, examples, path, card=card)


def load_encoder_weights(model: FusionDeepLabV3Plus, path) -> list[str]:
    """Load a pretrained encoder (safetensors, or a state dict read with ``weights_only``);
    returns the keys it did not need (a classifier's head), for the log.

    Accepts an encoder's own keys, a whole smp model's (``encoder.`` prefix) or a timm/torchvision
    classifier's (``model.`` is added for smp's ``tu-`` encoders). Every encoder weight must be
    in the file with its shape, except that a first convolution trained on 3 bands is spread
    over 4 (RGBN) the way smp does it: channels repeated in turn, scaled by 3/4.
    """
    from pathlib import Path

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, truncated file, not a checkpoint
        raise UserError(f"cannot read encoder weights {path} safely ({type(exc).__name__}: "
                        f"{exc}); give a .safetensors file or a plain state dict") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise UserError(f"{path} is not a state dict of tensors")
    if any(k.startswith("encoder.") for k in state):
        state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    own = model.encoder.state_dict()
    if all(k.startswith("model.") for k in own) and not any(k.startswith("model.") for k in state):
        state = {f"model.{k}": v for k, v in state.items()}
    unused = sorted(state.keys() - own.keys())
    state = {k: v for k, v in state.items() if k in own}
    for key, value in state.items():
        target = own[key]
        if (value.ndim == 4 and target.shape[1] != value.shape[1]
                and target.shape[0] == value.shape[0] and target.shape[2:] == value.shape[2:]):
            index = torch.arange(target.shape[1]) % value.shape[1]
            state[key] = value[:, index] * (value.shape[1] / target.shape[1])
    missing = sorted(own.keys() - state.keys())
    wrong = sorted(k for k in state if own[k].shape != state[k].shape)
    if missing or wrong:
        raise UserError(
            f"{path} does not fit the {type(model.encoder).__name__} encoder: "
            f"{len(missing)} weight(s) missing, e.g. {missing[:3]}, {len(wrong)} of another shape "
            f"{wrong[:3]}. Use weights of the same encoder as --encoder.")
    model.encoder.load_state_dict(state, strict=True)
    return unused
