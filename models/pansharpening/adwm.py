"""ADWM deep pansharpening: build the networks, load the released weights, run them (whole
image or tiled), export them to ONNX. torch and onnxruntime are imported lazily.

Inputs are DN arrays: ``ms_lr`` (B, h, w) and ``pan`` (h*4, w*4), NaN for nodata; they are
divided by the sensor scale (2047 for the released WorldView-3 weights), the networks upsample
the MS themselves (torch bicubic, pixel centres as GDAL's: the geometric phase) and add it
back, and the output is clamped to [0, 1] and scaled back to DN. A warning goes to ``warn``
when more than ``CLAMP_WARN_FRACTION`` of the values had to be clamped (the network sees a
sensor or radiometry it was not trained on).

Precision: FusionNet and LGPNet run in float32; LAGConv in float64 (``precision`` of its class:
float32 makes its output depend on threads and tiling by up to 15 DN).

Tiling: the ADWM weights (and LAGConv's pooled biases) depend on whole-image statistics.
``pansharpen_adwm(tile=...)`` (in memory) first collects them tile by tile (sums over tile
cores, one pass per statistic: 1 for FusionNet and LGPNet, 15 for LAGConv; each pass stops at
the layer that needs the statistic), then runs the tiles with the frozen statistics;
``StreamingAdwm`` does the same on the engine's tiles read from disk (rsai:pansharpen). With
the halo of the cards' tiling (overlap = 2 x halo: 24, 24 and 36 PAN pixels each side) the
result equals the untiled run: within 0.2 DN (1e-4 of 2047, float32 rounding) for FusionNet
and LGPNet, within 1e-3 DN for LAGConv (tested). Nodata: filled with the band means for the
convolutions, left out of the statistics, NaN in the output.
"""
from typing import Callable, Optional

import numpy as np

from ..errors import UserError

ADWM_NAMES = ("adwm_fusionnet", "adwm_lagconv", "adwm_lgpnet")
RELEASED_WEIGHTS = {  # file names of the authors' WorldView-3 weights (Jie-1203/ADWM, MIT)
    "adwm_fusionnet": "BWNET_FusionNet_WV3.pth",
    "adwm_lagconv": "BWNET_LAGConv_WV3.pth",
    "adwm_lgpnet": "BWNET_LGPNet_WV3.pth",
}
CLAMP_WARN_FRACTION = 0.03  # warn when more of the output values than this are clamped


def build_adwm(name: str, ms_bands: int = 8, cov_layernorm: bool = False):
    """Fresh (untrained) ADWM network for the architecture registry, in eval mode and in its
    working precision. ``cov_layernorm`` (LAGConv only): the CACW LayerNorm variant."""
    import torch
    from . import adwm_modules as m
    classes = {"adwm_fusionnet": m.ADWMFusionNet, "adwm_lagconv": m.ADWMLAGConv, "adwm_lgpnet": m.ADWMLGPNet}
    key = str(name).lower()
    if key not in classes:
        raise UserError(f"unknown ADWM network {name!r}; use one of {', '.join(ADWM_NAMES)}")
    if cov_layernorm and key != "adwm_lagconv":
        raise UserError(f"cov_layernorm is an option of adwm_lagconv, not of {key}")
    model = classes[key](ms_bands=ms_bands, **({"cov_layernorm": True} if cov_layernorm else {}))
    return model.to(getattr(model, "precision", torch.float32)).eval()


def load_adwm(name: str, weights_path, ms_bands: int = 8, cov_layernorm: bool = False):
    """Build ``name`` and load a state_dict saved with torch.save (weights_only, strict)."""
    import torch
    model = build_adwm(name, ms_bands, cov_layernorm)
    state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _to_tensors(ms_lr, pan, scale, device, dtype):
    import torch
    ms = torch.from_numpy(np.ascontiguousarray(ms_lr, dtype=np.float64) / scale)[None]
    pn = torch.from_numpy(np.ascontiguousarray(pan, dtype=np.float64) / scale)[None, None]
    return ms.to(device=device, dtype=dtype), pn.to(device=device, dtype=dtype)


def _fill_nodata(ms_lr: np.ndarray, pan: np.ndarray, ratio: int):
    """(ms, pan, valid): NaN replaced by band means for the convolutions, and the PAN-grid mask
    of valid pixels (None when there is no nodata)."""
    from .classical import nodata_free
    valid = nodata_free(ms_lr, pan, ratio)
    if valid is None:
        return ms_lr, pan, None
    if not valid.any():
        raise UserError("every pixel of the MS or the PAN is nodata: nothing to pansharpen")
    ms_mean = np.nanmean(np.where(np.isfinite(ms_lr), ms_lr, np.nan), axis=(1, 2))
    ms_lr = np.where(np.isfinite(ms_lr), ms_lr, ms_mean[:, None, None])
    pan = np.where(np.isfinite(pan), pan, np.nanmean(pan))
    return ms_lr, pan, valid


def pansharpen_adwm(model, ms_lr: np.ndarray, pan: np.ndarray, scale: float = 2047.0,
                    tile: Optional[int] = None, halo: Optional[int] = None,
                    progress: Optional[Callable[[float], None]] = None,
                    is_cancelled: Optional[Callable[[], bool]] = None, device=None,
                    warn: Optional[Callable[[str], None]] = None) -> np.ndarray:
    """Fuse with an ADWM network. ``tile`` (PAN pixels, multiple of 4) enables tiled inference
    with whole-image statistics; ``halo`` defaults to the network's ``halo`` attribute.
    ``device`` (a torch device) is where the model already is; None: cpu. Returns DN in the
    model's precision, NaN where the input is nodata."""
    import torch
    ratio = getattr(model, "ratio", 4)
    ms_lr, pan = np.asarray(ms_lr, dtype=np.float64), np.asarray(pan, dtype=np.float64)
    if pan.shape != (ms_lr.shape[1] * ratio, ms_lr.shape[2] * ratio):
        raise UserError(f"PAN {pan.shape} is not {ratio} x the MS size {ms_lr.shape[1:]}")
    ms_lr, pan, valid = _fill_nodata(ms_lr, pan, ratio)
    dtype = next(model.parameters()).dtype
    device = device if device is not None else torch.device("cpu")
    with torch.inference_mode():
        if tile is None:
            from .adwm_modules import GlobalStats
            stats = GlobalStats()  # statistics of the valid pixels only
            stats.mask = None if valid is None else torch.from_numpy(valid).to(device)
            raw = model(*_to_tensors(ms_lr, pan, scale, device, dtype), stats)[0].cpu().numpy()
        else:
            raw = _tiled(model, ms_lr, pan, scale, tile, model.halo if halo is None else halo,
                         valid, device, dtype, progress, is_cancelled)
    _warn_if_clamped(raw, valid, scale, warn)
    out = np.clip(raw, 0.0, 1.0) * scale
    if valid is not None:
        out[:, ~valid] = np.nan
    if progress is not None:
        progress(1.0)
    return out


def _tiled(model, ms_lr, pan, scale, tile, halo, valid, device, dtype, progress, is_cancelled):
    """Unclamped network output (B, H, W) on the [0, 1] scale, tile by tile with frozen
    whole-image statistics (``valid``: pixels the statistics count; None: all)."""
    import torch
    from ..errors import Cancelled
    from .adwm_modules import GlobalStats, StopForward
    from .classical import tile_windows
    ratio = getattr(model, "ratio", 4)
    stats = GlobalStats()
    out = np.empty((ms_lr.shape[0],) + tuple(pan.shape),
                   dtype=np.float64 if dtype == torch.float64 else np.float32)
    windows = list(tile_windows(pan.shape, tile, halo, ratio))
    while True:  # one pass per missing statistic, then the output pass
        pending = None
        for read, lr_read, write, crop in windows:
            if is_cancelled is not None and is_cancelled():
                raise Cancelled("pansharpening cancelled")
            ms, pn = _to_tensors(ms_lr[:, lr_read[0], lr_read[1]], pan[read], scale, device, dtype)
            stats.core = (crop[0].start, crop[0].stop, crop[1].start, crop[1].stop)
            stats.mask = None if valid is None else torch.from_numpy(
                np.ascontiguousarray(valid[write[0], write[1]])).to(device)
            try:
                res = model(ms, pn, stats)
            except StopForward as stop:
                pending = stop.args[0]
                continue
            out[:, write[0], write[1]] = res[0, :, crop[0], crop[1]].cpu().numpy()
        if pending is None:
            return out
        stats.freeze(pending)
        if progress is not None:
            progress(min(0.9, len(stats.values) / 16))


def _warn_if_clamped(raw: np.ndarray, valid: Optional[np.ndarray], scale: float,
                     warn: Optional[Callable[[str], None]]) -> None:
    """Warn when the network put more than CLAMP_WARN_FRACTION of the values outside [0, 1]."""
    if warn is None:
        return
    outside = (raw < 0) | (raw > 1)
    if valid is not None:
        outside = outside[:, valid]
    _warn_clamped(outside.reshape(outside.shape[0], -1).mean(axis=1), scale, warn)


def _warn_clamped(per_band: np.ndarray, scale: float, warn: Callable[[str], None]) -> None:
    total = float(per_band.mean())
    if total > CLAMP_WARN_FRACTION:
        worst = int(np.argmax(per_band))
        warn(f"{total:.1%} of the network's output values fell outside 0..{scale:g} and were "
             f"clamped (band {worst + 1}: {per_band[worst]:.1%}). The image probably differs from "
             "what the network was trained on (WorldView-3, 11-bit DN): check SENSOR and the "
             "value scale, or use a classical METHOD.")


class StreamingAdwm:
    """An ADWM network as an engine predictor (tiles cut at the raster's edge, the card's
    halo as context, inputs in DN with NaN for nodata; divided by ``scale`` here, in float64).

    ``fit`` gathers what the networks need from the whole image before any tile is fused: the
    band means that fill nodata for the convolutions, then the ADWM statistics (and LAGConv's
    pooled biases) one pass over the tiles per statistic, each pass stopping at the layer that
    needs it (sums over each tile's own pixels, nodata left out), as ``pansharpen_adwm(tile=)``
    does in memory. Tiles then run with the frozen statistics. The engine calls the predictor
    once per tile in the grid's order, so the predictor knows which pixels each tile owns (for
    the clamping count)."""

    def __init__(self, model, device=None, scale: float = 2047.0, callbacks=None):
        import torch
        from .adwm_modules import GlobalStats
        self.model, self.scale, self.callbacks = model, scale, callbacks
        self.device = device if device is not None else torch.device("cpu")
        self.dtype = next(model.parameters()).dtype
        self.ratio = getattr(model, "ratio", 4)
        self.stats = GlobalStats()
        self.fill: Optional[tuple] = None  # (MS band means, PAN mean) of the valid pixels
        self.grid = None
        self._order = None
        self.outside: Optional[np.ndarray] = None  # per band: clamped values counted
        self.counted = 0

    def predictor(self):
        from ..runtime.backends import Predictor
        return Predictor(run=self, device=f"torch {self.device}", fit=self.fit)

    def _tensors(self, inputs):
        """(ms, pan) tensors with nodata filled, and the PAN-grid validity (None: all)."""
        import torch
        from .rasters import pad_to
        ms = inputs["ms"][0].astype(np.float64)
        pan = pad_to(inputs["pan"][0, 0], self.ratio).astype(np.float64)
        from .classical import nodata_free
        valid = nodata_free(ms, pan, self.ratio)
        if valid is not None:
            ms = np.where(np.isfinite(ms), ms, self.fill[0][:, None, None])
            pan = np.where(np.isfinite(pan), pan, self.fill[1])
        # DN to the network's range in float64 (a float32 step moves LAGConv by whole DN)
        tensors = (torch.from_numpy(ms / self.scale)[None],
                   torch.from_numpy(pan / self.scale)[None, None])
        return tuple(t.to(device=self.device, dtype=self.dtype) for t in tensors), valid

    def _check_cancelled(self):
        if self.callbacks is not None:
            self.callbacks.check_cancelled()

    def fit(self, sample) -> None:
        import torch
        from .adwm_modules import StopForward
        self.grid = sample.grid
        ms_sum = ms_count = None
        pan_sum = pan_count = 0.0
        for tile, inputs, _ in sample.tiles():  # nodata fill: means of the valid pixels
            self._check_cancelled()
            r0, r1, c0, c1 = self.grid.owned(tile)
            r = self.ratio
            ms = inputs["ms"][0][:, r0 // r:-(-r1 // r), c0 // r:-(-c1 // r)].astype(np.float64)
            pan = inputs["pan"][0, 0, r0:r1, c0:c1].astype(np.float64)
            finite = np.isfinite(ms)
            ms_sum = np.where(finite, ms, 0).sum(axis=(1, 2)) + (0 if ms_sum is None else ms_sum)
            ms_count = finite.sum(axis=(1, 2)) + (0 if ms_count is None else ms_count)
            pan_sum += float(np.nansum(pan))
            pan_count += int(np.isfinite(pan).sum())
        if not pan_count or not ms_count.all():
            raise UserError("every pixel of the MS or the PAN is nodata: nothing to pansharpen")
        self.fill = (ms_sum / ms_count, pan_sum / pan_count)
        passes = 0
        with torch.inference_mode():
            while True:  # one pass per statistic, until a tile runs through
                pending = None
                for tile, inputs, _ in sample.tiles():
                    self._check_cancelled()
                    (ms, pan), valid = self._tensors(inputs)
                    r0, r1, c0, c1 = self.grid.owned(tile)
                    self.stats.core = (r0, r1, c0, c1)
                    self.stats.mask = None if valid is None else torch.from_numpy(
                        np.ascontiguousarray(valid[r0:r1, c0:c1])).to(self.device)
                    try:
                        self.model(ms, pan, self.stats)
                    except StopForward as stop:
                        pending = stop.args[0]
                        continue
                    break  # every statistic is known: no layer stopped
                if pending is None:
                    break
                self.stats.freeze(pending)
                passes += 1
                if self.callbacks is not None:  # at most 16 statistics (LAGConv)
                    self.callbacks.progress(min(0.9, passes / 16))
        if self.callbacks is not None:
            self.callbacks.log(f"ADWM statistics from {passes} pass(es) over "
                               f"{len(self.grid)} tile(s)")
        self._order = iter(self.grid)
        if self.callbacks is not None:
            self.callbacks.progress(1.0)

    def __call__(self, inputs: dict) -> dict:
        import torch
        tile = next(self._order)
        height, width = inputs["pan"].shape[-2:]
        (ms, pan), valid = self._tensors(inputs)
        with torch.inference_mode():
            raw = self.model(ms, pan, self.stats)[0, :, :height, :width].cpu().numpy()
        r0, r1, c0, c1 = self.grid.owned(tile)
        owned = raw[:, r0:r1, c0:c1]
        outside = (owned < 0) | (owned > 1)
        if valid is not None:
            outside = outside[:, valid[r0:r1, c0:c1]]
        counts = outside.reshape(len(raw), -1).sum(axis=1)
        self.outside = counts if self.outside is None else self.outside + counts
        self.counted += outside.reshape(len(raw), -1).shape[1]
        out = np.clip(raw, 0.0, 1.0) * self.scale
        if valid is not None:
            out[:, ~valid[:height, :width]] = np.nan
        return {"fused": out[None].astype(np.float32)}

    def warn_if_clamped(self) -> None:
        if self.outside is None or not self.counted or self.callbacks is None:
            return
        per_band = self.outside / self.counted
        _warn_clamped(per_band, self.scale, self.callbacks.warn)


def export_onnx(model, path, ms_shape=(1, 8, 64, 64), opset: int = 17, dynamic: bool = True) -> str:
    """Export for onnxruntime. Inputs 'ms' (N, B, h, w) and 'pan' (N, 1, 4h, 4w), normalised."""
    import torch
    from ..runtime.onnx_export import export_onnx as export
    n, b, h, w = ms_shape
    ratio = getattr(model, "ratio", 4)
    dtype = next(model.parameters()).dtype  # float64 for LAGConv
    inputs = {"ms": torch.rand(n, b, h, w, dtype=dtype),
              "pan": torch.rand(n, 1, h * ratio, w * ratio, dtype=dtype)}
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
