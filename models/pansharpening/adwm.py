"""ADWM deep pansharpening: build the networks, load the released weights, run them (whole
image or tiled), export them to ONNX. torch and onnxruntime are imported lazily.

Inputs are DN arrays: ``ms_lr`` (B, h, w) and ``pan`` (h*4, w*4); they are divided by the
sensor scale (2047 for the released WorldView-3 weights), the networks upsample the MS
themselves (bicubic) and add it back, and the output is clamped to [0, 1] and scaled back to DN.

Tiling: the ADWM weights (and LAGConv's pooled biases) depend on whole-image statistics.
``pansharpen_adwm(tile=...)`` first collects them tile by tile (sums over tile cores, one pass
per statistic: 1 for FusionNet and LGPNet, 15 for LAGConv; each pass stops at the layer that
needs the statistic), then runs the tiles with the frozen statistics. With the overlap of
``ADWM_HALO`` the result equals the untiled run up to float32 rounding (tested within 1e-4 on
the [0, 1] scale).
"""
from typing import Callable, Optional

import numpy as np

from ..errors import UserError

ADWM_NAMES = ("adwm_fusionnet", "adwm_lagconv", "adwm_lgpnet")
ADWM_HALO = {"adwm_fusionnet": 24, "adwm_lagconv": 24, "adwm_lgpnet": 36}  # PAN pixels, ratio 4
RELEASED_WEIGHTS = {  # file names of the authors' WorldView-3 weights (Jie-1203/ADWM, MIT)
    "adwm_fusionnet": "BWNET_FusionNet_WV3.pth",
    "adwm_lagconv": "BWNET_LAGConv_WV3.pth",
    "adwm_lgpnet": "BWNET_LGPNet_WV3.pth",
}


def build_adwm(name: str, ms_bands: int = 8):
    """Fresh (untrained) ADWM network for the architecture registry, in eval mode."""
    from . import adwm_modules as m
    classes = {"adwm_fusionnet": m.ADWMFusionNet, "adwm_lagconv": m.ADWMLAGConv, "adwm_lgpnet": m.ADWMLGPNet}
    key = str(name).lower()
    if key not in classes:
        raise UserError(f"unknown ADWM network {name!r}; use one of {', '.join(ADWM_NAMES)}")
    return classes[key](ms_bands=ms_bands).eval()


def load_adwm(name: str, weights_path, ms_bands: int = 8):
    """Build ``name`` and load a state_dict saved with torch.save (weights_only, strict)."""
    import torch
    model = build_adwm(name, ms_bands)
    state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _to_tensors(ms_lr, pan, scale, device=None):
    import torch
    ms = torch.from_numpy(np.ascontiguousarray(ms_lr, dtype=np.float32) / scale)[None]
    pn = torch.from_numpy(np.ascontiguousarray(pan, dtype=np.float32) / scale)[None, None]
    return (ms, pn) if device is None else (ms.to(device), pn.to(device))


def pansharpen_adwm(model, ms_lr: np.ndarray, pan: np.ndarray, scale: float = 2047.0,
                    tile: Optional[int] = None, halo: Optional[int] = None,
                    progress: Optional[Callable[[float], None]] = None,
                    is_cancelled: Optional[Callable[[], bool]] = None, device=None) -> np.ndarray:
    """Fuse with an ADWM network. ``tile`` (PAN pixels, multiple of 4) enables tiled inference
    with whole-image statistics; ``halo`` defaults to the network's ``halo`` attribute.
    ``device`` (a torch device) is where the model already is; None: cpu."""
    import torch
    from .adwm_modules import GlobalStats, StopForward
    from .tiling import iter_tiles
    ratio = getattr(model, "ratio", 4)
    if np.asarray(pan).shape != (ms_lr.shape[1] * ratio, ms_lr.shape[2] * ratio):
        raise UserError(f"PAN {np.asarray(pan).shape} is not {ratio} x the MS size {ms_lr.shape[1:]}")
    with torch.inference_mode():
        if tile is None:
            ms, pn = _to_tensors(ms_lr, pan, scale, device)
            out = model(ms, pn).clamp(0, 1)[0].cpu().numpy()
            return out * scale
        halo = model.halo if halo is None else halo
        stats = GlobalStats()
        out = np.empty((ms_lr.shape[0],) + tuple(pan.shape), dtype=np.float32)
        while True:  # one pass per missing statistic, then the output pass
            pending = None
            for t in iter_tiles(pan.shape, tile, halo, ratio, None, is_cancelled):
                ms, pn = _to_tensors(ms_lr[:, t.lr_read[0], t.lr_read[1]], pan[t.read], scale, device)
                stats.core = (t.crop[0].start, t.crop[0].stop, t.crop[1].start, t.crop[1].stop)
                try:
                    res = model(ms, pn, stats)
                except StopForward as stop:
                    pending = stop.args[0]
                    continue
                out[:, t.write[0], t.write[1]] = res.clamp(0, 1)[0, :, t.crop[0], t.crop[1]].cpu().numpy()
            if pending is None:
                break
            finalize = _finalizer(model, pending)
            stats.freeze(pending, finalize)
            if progress is not None:
                progress(min(0.9, len(stats.values) / 16))
        if progress is not None:
            progress(1.0)
        return out * scale


def _finalizer(model, name: str):
    from .adwm_modules import ADWM, LAConv2D
    return ADWM._finalize if name == "adwm" else LAConv2D._finalize


def export_onnx(model, path, ms_shape=(1, 8, 64, 64), opset: int = 17, dynamic: bool = True) -> str:
    """Export for onnxruntime. Inputs 'ms' (N, B, h, w) and 'pan' (N, 1, 4h, 4w), normalised."""
    import torch
    from ..runtime.onnx_export import export_onnx as export
    n, b, h, w = ms_shape
    ratio = getattr(model, "ratio", 4)
    inputs = {"ms": torch.rand(n, b, h, w), "pan": torch.rand(n, 1, h * ratio, w * ratio)}
    return str(export(model, inputs, path, ["fused"], dynamic_size=dynamic, opset=opset))


def load_for_card(card, weights_path, device: str = "auto"):
    """The card's network with its verified weights on ``device`` (auto, cpu, cuda):
    (model, torch device, description of the device for the log)."""
    from ..runtime.architectures import find_architecture
    from ..runtime.backends import describe_torch_device, load_state_dict, torch_device
    model = find_architecture(card.architecture).build_module(card.architecture_kwargs)
    load_state_dict(model, weights_path, card.format)
    dev = torch_device(device)
    return model.to(dev).eval(), dev, describe_torch_device(dev)
