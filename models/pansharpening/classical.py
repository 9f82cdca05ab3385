"""Classical pansharpening (component substitution and multiresolution analysis), numpy only.

Every method is split into ``fit`` (global statistics, computed once on the whole image or on
a representative part of it) and ``apply`` (per tile, with the fitted parameters), so a tiled
run reproduces an untiled one. Parameters are small dicts of floats/lists (JSON-friendly),
cheap to send to a tile worker.

Inputs: ``ms_lr`` (B, h, w) low-resolution MS and ``pan`` (h*ratio, w*ratio), both in DN; NaN
marks nodata. ``apply`` takes the MS already upsampled onto the PAN grid (``ms_up`` =
``filters.upsample(ms_lr)``), so the pointwise methods are exactly pointwise;
``pansharpen_tile`` does upsampling + apply for a tile read with the halo of ``halo_px``.

``phase`` (stored in the parameters): ``"geometric"`` for real georeferenced pairs (the MS
pixel centre where GDAL puts it); ``"toolbox"`` reproduces Vivone's toolbox on pairs degraded
its way (the quality tool's reduced-resolution protocol): its upsampling phase, and in the fits
its padding (circular interp23tap, the wavelet's own edges), so BDSD-PC and GSA match the
toolbox away from the image edge.

Nodata (NaN in MS or PAN) is left out of every fit; the filters renormalise over valid pixels
and the output is NaN wherever the PAN or the MS pixel under it is nodata.
"""
from typing import Callable, Dict, Optional, Sequence

import numpy as np
from scipy import optimize

from ..errors import Cancelled, UserError
from ..runtime.tiling import TileGrid
from .filters import (MTF_TAPS, atrous_halo, atrous_lowpass, check_phase, check_ratio, decimate,
                      gaussian_fir, get_sensor, imresize, lp_filter_gauss, mtf_filter, upsample,
                      upsample_halo)

METHODS = ("brovey", "gsa", "mtf_glp_hpm", "bdsd_pc", "awlp")
_EPS = np.finfo(np.float64).eps
HPM_FLOOR = 0.05  # MTF-GLP-HPM denominator floor, as a fraction of the band mean


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def apply_halo_px(method: str, ratio: int = 4, phase: str = "geometric") -> int:
    """Context (PAN pixels each side) that ``apply`` needs around a tile, given ms_up.

    brovey, gsa, bdsd_pc: 0 (pointwise). awlp: the a-trous low-pass (8 for ratio 4).
    mtf_glp_hpm: 20 (41-tap MTF) + the upsampling of the decimated PAN + one block, rounded to
    a multiple of ratio: 48 for ratio 4 (geometric), 60 (toolbox).
    """
    _check_method(method)
    if method == "awlp":
        return atrous_halo(ratio)
    if method == "mtf_glp_hpm":
        return _round_up(MTF_TAPS // 2 + upsample_halo(ratio, phase) + ratio, ratio)
    return 0


def halo_px(method: str, ratio: int = 4, phase: str = "geometric") -> int:
    """Overlap (PAN pixels, a multiple of ratio) each side of a tile so ``pansharpen_tile`` on
    tiles equals ``pansharpen`` on the whole image: the MS upsampling's or the method's own
    filter, whichever is larger. Ratio 4, geometric: 24 for brovey/gsa/bdsd_pc/awlp, 48 for
    mtf_glp_hpm (toolbox phase: 36 and 60)."""
    ratio = check_ratio(ratio)
    return _round_up(max(upsample_halo(ratio, check_phase(phase)), apply_halo_px(method, ratio, phase)),
                     ratio)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise UserError(f"unknown pansharpening method {method!r}; use one of {', '.join(METHODS)}")


def _check_pair(ms_lr: np.ndarray, pan: np.ndarray, ratio: int) -> None:
    if ms_lr.ndim != 3 or pan.ndim != 2:
        raise UserError("MS must be (bands, rows, cols) and PAN (rows, cols)")
    if pan.shape != (ms_lr.shape[1] * ratio, ms_lr.shape[2] * ratio):
        raise UserError(f"PAN size {pan.shape} is not {ratio} x the MS size {ms_lr.shape[1:]}: "
                        "check the resolution ratio or clip both rasters to the same extent")


def _band_mean(x: np.ndarray) -> np.ndarray:
    """Mean of each band over its valid (non-NaN) pixels."""
    return np.nanmean(x, axis=(-2, -1)) if np.isnan(x).any() else x.mean(axis=(-2, -1))


def _band_std(x: np.ndarray) -> np.ndarray:
    if np.isnan(x).any():
        return np.nanstd(x, axis=(-2, -1), ddof=1)
    return x.std(axis=(-2, -1), ddof=1)


# --------------------------------------------------------------------------- fit
def fit(method: str, ms_lr: np.ndarray, pan: np.ndarray, ratio: int = 4, sensor: str = "generic",
        weights: Optional[Sequence[float]] = None, phase: str = "geometric") -> Dict:
    """Global parameters of ``method`` from the whole image (or a representative window/overview
    at the same ratio), nodata (NaN) left out. ``weights`` are the Brovey band weights (default:
    equal)."""
    _check_method(method)
    ratio = check_ratio(ratio)
    phase = check_phase(phase)
    ms_lr = np.asarray(ms_lr, dtype=np.float64)
    pan = np.asarray(pan, dtype=np.float64)
    _check_pair(ms_lr, pan, ratio)
    nb = ms_lr.shape[0]
    if method == "brovey":
        w = np.full(nb, 1.0 / nb) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (nb,):
            raise UserError(f"Brovey needs one weight per MS band ({nb}), got {len(w)}")
        return {"method": method, "phase": phase, "ratio": ratio, "weights": w.tolist()}
    ms_lr, pan = _mask_nodata(ms_lr, pan, ratio)
    if np.isnan(pan).all():
        raise UserError("every pixel of the MS or the PAN is nodata: nothing to fit")
    # the toolbox pads its interp23tap circularly: its fits see that padding
    ms_up = upsample(ms_lr, ratio, phase, circular=phase == "toolbox")
    if method == "gsa":
        params = _fit_gsa(ms_lr, ms_up, pan, ratio, phase)
    elif method == "mtf_glp_hpm":
        params = _fit_glp(ms_up, pan, ratio, sensor)
    elif method == "bdsd_pc":
        params = _fit_bdsd_pc(ms_up, pan, ratio, sensor, phase)
    else:
        params = _fit_awlp(ms_up, pan, ratio)
    return {"method": method, "phase": phase, "ratio": ratio, **params}


def _mask_nodata(ms_lr: np.ndarray, pan: np.ndarray, ratio: int):
    """NaN in every band of an MS pixel where one band is nodata, and in the PAN under it (and
    the MS over an all-nodata PAN block), so every fit sees the same valid area."""
    valid = nodata_free(ms_lr, pan, ratio)
    if valid is None:
        return ms_lr, pan
    h, w = ms_lr.shape[1:]
    ms_ok = valid.reshape(h, ratio, w, ratio).any(axis=(1, 3))
    return np.where(ms_ok, ms_lr, np.nan), np.where(valid, pan, np.nan)


def _finite_rows(*arrays: np.ndarray) -> np.ndarray:
    """Pixels (flattened) where every band of every array is a number."""
    ok = None
    for a in arrays:
        a_ok = np.isfinite(a.reshape(-1, a.shape[-2] * a.shape[-1])).all(axis=0)
        ok = a_ok if ok is None else ok & a_ok
    return ok


def _fit_gsa(ms_lr, ms_up, pan, ratio, phase):
    """GSA (Aiazzi 2007): intensity = regression of a low-passed, decimated PAN on the LR MS;
    injection gains g_b = cov(I, MS_b) / var(I) (toolbox GS/GSA.m)."""
    nb = ms_lr.shape[0]
    lr0 = ms_lr - _band_mean(ms_lr)[:, None, None]
    pan_lr = decimate(atrous_lowpass(pan - _band_mean(pan), ratio), ratio, phase)
    rows = _finite_rows(lr0, pan_lr)
    lr0 = lr0.reshape(nb, -1)[:, rows]
    design = np.concatenate([lr0.T, np.ones((lr0.shape[1], 1))], axis=1)
    alpha = np.linalg.lstsq(design, pan_lr.ravel()[rows], rcond=None)[0]
    hr = _finite_rows(ms_up, pan)
    ms_hr = ms_up.reshape(nb, -1)[:, hr]
    mu_up = ms_hr.mean(axis=1)
    intensity = alpha[:-1] @ (ms_hr - mu_up[:, None]) + alpha[-1]
    i0 = intensity - intensity.mean()
    var_i = i0.var(ddof=1)
    g = [np.cov(i0, ms_hr[b] - mu_up[b])[0, 1] / var_i for b in range(nb)]
    return {"alpha": alpha.tolist(), "ms_mean": mu_up.tolist(), "pan_mean": float(pan.ravel()[hr].mean()),
            "intensity_mean": float(intensity.mean()), "gains": g}


def _fit_glp(ms_up, pan, ratio, sensor):
    """MTF-GLP-HPM: PAN histogram-matched to each band (mean and std against the Gaussian
    low-passed PAN), as in toolbox GLP/MTF_GLP_HPM.m."""
    s = get_sensor(sensor)
    return {"sensor": s.name, "gains_nyq": s.ms_gains(ms_up.shape[0]).tolist(),
            "pan_mean": float(_band_mean(pan)), "pan_lp_std": float(_band_std(lp_filter_gauss(pan, ratio))),
            "ms_mean": _band_mean(ms_up).tolist(), "ms_std": _band_std(ms_up).tolist()}


def _fit_bdsd_pc(ms_up, pan, ratio, sensor, phase):
    """BDSD-PC (Vivone 2019): per band, least squares at reduced scale with physical sign
    constraints (PAN gain >= 0, MS gains <= 0), solved as NNLS (toolbox BDSD/BDSD_PC.m)."""
    s = get_sensor(sensor)
    nb = ms_up.shape[0]
    gt = imresize(ms_up, 1.0 / ratio)
    ms_lr = mtf_filter(gt, s.ms_gains(nb), ratio)
    pan_lr = decimate(mtf_filter(pan[None], [s.gnyq_pan], ratio), ratio, phase)[0]
    rows = _finite_rows(gt, ms_lr, pan_lr)
    h = np.concatenate([pan_lr.reshape(1, -1), ms_lr.reshape(nb, -1)])[:, rows].T
    sign = -np.ones(nb + 1)
    sign[0] = 1.0
    gamma = np.empty((nb + 1, nb))
    for b in range(nb):
        beta, _ = optimize.nnls(h * sign, (gt[b] - ms_lr[b]).ravel()[rows])
        gamma[:, b] = beta * sign
    return {"gamma": gamma.tolist()}


def _fit_awlp(ms_up, pan, ratio):
    """AWLP (Otazu 2005, toolbox version): PAN histogram-matched to each band against a
    bicubically degraded PAN."""
    pan_lr_up = imresize(imresize(pan, 1.0 / ratio), float(ratio))
    return {"pan_mean": float(_band_mean(pan)), "pan_lr_std": float(_band_std(pan_lr_up)),
            "ms_mean": _band_mean(ms_up).tolist(), "ms_std": _band_std(ms_up).tolist()}


# --------------------------------------------------------------------------- apply
def apply(params: Dict, ms_up: np.ndarray, pan: np.ndarray) -> np.ndarray:
    """Fuse one tile: ``ms_up`` (B, H, W) already on the PAN grid, ``pan`` (H, W). Needs the
    tile read with ``apply_halo_px`` context for the filter methods (none for pointwise ones)."""
    method = params["method"]
    _check_method(method)
    ms_up = np.asarray(ms_up, dtype=np.float64)
    pan = np.asarray(pan, dtype=np.float64)
    if ms_up.shape[1:] != pan.shape:
        raise UserError(f"upsampled MS {ms_up.shape[1:]} and PAN {pan.shape} differ in size")
    return _APPLY[method](params, ms_up, pan)


def _apply_brovey(p, ms_up, pan):
    """GDAL's weighted Brovey: pseudo-PAN = sum_b w_b MS_b; out_b = MS_b * PAN / pseudo-PAN
    (0 where pseudo-PAN is 0). Pointwise."""
    w = np.asarray(p["weights"])
    pseudo = np.tensordot(w, ms_up, axes=1)
    safe = np.where(pseudo != 0, pseudo, 1.0)
    factor = np.where(pseudo != 0, pan / safe, 0.0)
    return ms_up * factor


def _apply_gsa(p, ms_up, pan):
    alpha = np.asarray(p["alpha"])
    mu = np.asarray(p["ms_mean"])[:, None, None]
    intensity = np.tensordot(alpha[:-1], ms_up - mu, axes=1) + alpha[-1]
    detail = (pan - p["pan_mean"]) - (intensity - p["intensity_mean"])
    return ms_up + np.asarray(p["gains"])[:, None, None] * detail


def _apply_glp(p, ms_up, pan):
    ratio, phase = int(p["ratio"]), p["phase"]
    scale = np.asarray(p["ms_std"]) / p["pan_lp_std"]
    offset = np.asarray(p["ms_mean"]) - scale * p["pan_mean"]
    gains = p["gains_nyq"]
    out = np.empty_like(ms_up)
    lowpassed = {}
    for b, g in enumerate(gains):
        if g not in lowpassed:  # the MTF-GLP low-pass of PAN, once per distinct MTF gain
            lp = mtf_filter(pan[None], [g], ratio)
            lowpassed[g] = (upsample(decimate(lp, ratio, phase), ratio, phase)[0],
                            gaussian_fir(g, ratio).sum())
        # PAN equalised to band b is affine in PAN: filter PAN once, then map (the upsampling
        # keeps constants exactly, the windowed MTF kernel scales them by its sum)
        lp, kernel_sum = lowpassed[g]
        pan_b = scale[b] * pan + offset[b]
        pan_lp_b = scale[b] * lp + offset[b] * kernel_sum
        # guard (not in the toolbox): the equalised PAN can reach 0 or below in dark areas of
        # high-variance bands, where PAN/PAN_LP explodes; floor it at 5% of the band mean
        floor = HPM_FLOOR * float(p["ms_mean"][b])
        out[b] = ms_up[b] * (np.maximum(pan_b, 0.0) / np.maximum(pan_lp_b, max(floor, _EPS)))
    return out


def _apply_bdsd_pc(p, ms_up, pan):
    gamma = np.asarray(p["gamma"])
    injected = gamma[0][:, None, None] * pan + np.tensordot(gamma[1:].T, ms_up, axes=1)
    return ms_up + injected


def _apply_awlp(p, ms_up, pan):
    scale = np.asarray(p["ms_std"]) / p["pan_lr_std"]
    detail = pan - atrous_lowpass(pan, int(p["ratio"]))  # histogram matching is affine: details just scale
    intensity_ratio = ms_up / (ms_up.mean(axis=0) + _EPS)
    return ms_up + scale[:, None, None] * detail * intensity_ratio


_APPLY: Dict[str, Callable] = {"brovey": _apply_brovey, "gsa": _apply_gsa, "mtf_glp_hpm": _apply_glp,
                               "bdsd_pc": _apply_bdsd_pc, "awlp": _apply_awlp}


# --------------------------------------------------------------------------- convenience
def pansharpen_tile(params: Dict, ms_lr_tile: np.ndarray, pan_tile: np.ndarray, ratio: int) -> np.ndarray:
    """Upsample the MS tile (at the parameters' phase) and fuse; NaN where the PAN or the MS
    pixel under a PAN pixel is nodata. Read tiles with ``halo_px`` context whose PAN origin is a
    multiple of ``ratio``; crop the halo from the result."""
    ratio = check_ratio(ratio)
    ms_lr_tile = np.asarray(ms_lr_tile, dtype=np.float64)
    pan_tile = np.asarray(pan_tile, dtype=np.float64)
    _check_pair(ms_lr_tile, pan_tile, ratio)
    fused = apply(params, upsample(ms_lr_tile, ratio, params["phase"]), pan_tile)
    valid = nodata_free(ms_lr_tile, pan_tile, ratio)
    if valid is not None:
        fused[:, ~valid] = np.nan
    return fused


def nodata_free(ms_lr: np.ndarray, pan: np.ndarray, ratio: int) -> Optional[np.ndarray]:
    """PAN-grid mask of pixels whose PAN value and MS pixel (every band) are numbers; None when
    all are (the usual case, nothing to mask)."""
    ms_ok = np.isfinite(ms_lr).all(axis=0)
    pan_ok = np.isfinite(pan)
    if ms_ok.all() and pan_ok.all():
        return None
    return pan_ok & np.repeat(np.repeat(ms_ok, ratio, axis=0), ratio, axis=1)


def pansharpen(method: str, ms_lr: np.ndarray, pan: np.ndarray, ratio: int = 4, sensor: str = "generic",
               weights: Optional[Sequence[float]] = None, phase: str = "geometric") -> np.ndarray:
    """Whole image in memory: fit + upsample + apply. Returns float64 DN (B, H, W)."""
    params = fit(method, ms_lr, pan, ratio, sensor, weights, phase)
    return pansharpen_tile(params, ms_lr, pan, ratio)


def pansharpen_tiled(method: str, ms_lr: np.ndarray, pan: np.ndarray, ratio: int = 4,
                     sensor: str = "generic", tile: int = 256, params: Optional[Dict] = None,
                     weights: Optional[Sequence[float]] = None, phase: str = "geometric",
                     progress: Optional[Callable[[float], None]] = None,
                     is_cancelled: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """Reference tiled driver in memory: fit once globally, then apply tile by tile with
    ``halo_px`` on the engine's clipped tiles. ``tile`` is in PAN pixels and is rounded up to
    a multiple of ratio."""
    ratio = check_ratio(ratio)
    ms_lr = np.asarray(ms_lr, dtype=np.float64)
    pan = np.asarray(pan, dtype=np.float64)
    params = params or fit(method, ms_lr, pan, ratio, sensor, weights, phase)
    out = np.empty((ms_lr.shape[0],) + pan.shape)
    halo = halo_px(method, ratio, params["phase"])
    windows = list(tile_windows(pan.shape, tile, halo, ratio))
    for done, (read, lr_read, write, crop) in enumerate(windows):
        if is_cancelled is not None and is_cancelled():
            raise Cancelled("pansharpening cancelled")
        res = pansharpen_tile(params, ms_lr[:, lr_read[0], lr_read[1]], pan[read], ratio)
        out[:, write[0], write[1]] = res[:, crop[0], crop[1]]
        if progress is not None:
            progress((done + 1) / len(windows))
    return out


def tile_windows(shape, tile: int, halo: int, ratio: int):
    """In-memory tiling of a (H, W) PAN grid (a multiple of ``ratio``) on the engine's tiles cut
    at the image edge (``edge: clip``): cores of ``tile`` pixels with ``halo`` pixels of
    context. Per tile: (read, lr_read, write, crop), slice pairs of the PAN window, the MS
    window, the core in the image and the core inside the read window."""
    h, w = int(shape[-2]), int(shape[-1])
    if h % ratio or w % ratio:
        raise UserError(f"PAN size {h} x {w} is not a multiple of the ratio {ratio}")
    if halo % ratio:
        raise UserError(f"halo {halo} must be a multiple of the ratio {ratio}")
    tile = max(ratio, -(-int(tile) // ratio) * ratio)
    grid = TileGrid(w, h, tile + 2 * halo, 2 * halo, "crop", "clip")
    for t in grid:
        r0, r1, c0, c1 = grid.owned(t)
        yield ((slice(t.y, t.y + t.height), slice(t.x, t.x + t.width)),
               (slice(t.y // ratio, (t.y + t.height) // ratio),
                slice(t.x // ratio, (t.x + t.width) // ratio)),
               (slice(t.y + r0, t.y + r1), slice(t.x + c0, t.x + c1)),
               (slice(r0, r1), slice(c0, c1)))
