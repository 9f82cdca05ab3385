"""Classical pansharpening (component substitution and multiresolution analysis), numpy only.

Every method is split into ``fit`` (global statistics, computed once on the whole image or on
a representative part of it) and ``apply`` (per tile, with the fitted parameters), so a tiled
run reproduces an untiled one. Parameters are small dicts of floats/lists (JSON-friendly),
cheap to send to a tile worker.

Inputs: ``ms_lr`` (B, h, w) low-resolution MS and ``pan`` (h*ratio, w*ratio), both in DN.
``apply`` takes the MS already upsampled onto the PAN grid (``ms_up`` = interp23tap(ms_lr)),
so the pointwise methods are exactly pointwise; ``pansharpen_tile`` does upsampling + apply for
a tile read with the halo of ``halo_px``.
"""
from typing import Callable, Dict, Optional, Sequence

import numpy as np
from scipy import optimize

from ..errors import UserError
from .filters import (ATROUS_HALO, MTF_TAPS, atrous_lowpass, check_ratio, decimate, gaussian_fir,
                      get_sensor, imresize, interp23tap, interp23tap_halo, lp_filter_gauss, mtf_filter)

METHODS = ("brovey", "gsa", "mtf_glp_hpm", "bdsd_pc", "awlp")
_EPS = np.finfo(np.float64).eps
HPM_FLOOR = 0.05  # MTF-GLP-HPM denominator floor, as a fraction of the band mean


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def apply_halo_px(method: str, ratio: int = 4) -> int:
    """Context (PAN pixels each side) that ``apply`` needs around a tile, given ms_up.

    brovey, gsa, bdsd_pc: 0 (pointwise). awlp: 8 (17-tap binomial low-pass of the PAN).
    mtf_glp_hpm: 20 (41-tap MTF) + 33 (interp23tap of the PAN decimated at offset ratio/2) + 2,
    rounded to a multiple of ratio: 56 for ratio 4.
    """
    _check_method(method)
    if method == "awlp":
        return ATROUS_HALO
    if method == "mtf_glp_hpm":
        return _round_up(MTF_TAPS // 2 + interp23tap_halo(ratio) + ratio // 2, ratio)
    return 0


def halo_px(method: str, ratio: int = 4) -> int:
    """Overlap (PAN pixels, a multiple of ratio) each side of a tile so ``pansharpen_tile`` on
    tiles equals ``pansharpen`` on the whole image: the interp23tap upsampling of the MS
    (11*(ratio-1), 36 for ratio 4) or the method's own filter, whichever is larger.
    For ratio 4: brovey/gsa/bdsd_pc/awlp 36, mtf_glp_hpm 56."""
    ratio = check_ratio(ratio)
    return max(_round_up(interp23tap_halo(ratio) + ratio // 2, ratio), apply_halo_px(method, ratio))


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise UserError(f"unknown pansharpening method {method!r}; use one of {', '.join(METHODS)}")


def _check_pair(ms_lr: np.ndarray, pan: np.ndarray, ratio: int) -> None:
    if ms_lr.ndim != 3 or pan.ndim != 2:
        raise UserError("MS must be (bands, rows, cols) and PAN (rows, cols)")
    if pan.shape != (ms_lr.shape[1] * ratio, ms_lr.shape[2] * ratio):
        raise UserError(f"PAN size {pan.shape} is not {ratio} x the MS size {ms_lr.shape[1:]}: "
                        "check the resolution ratio or clip both rasters to the same extent")


# --------------------------------------------------------------------------- fit
def fit(method: str, ms_lr: np.ndarray, pan: np.ndarray, ratio: int = 4, sensor: str = "generic",
        weights: Optional[Sequence[float]] = None) -> Dict:
    """Global parameters of ``method`` from the whole image (or a representative window/overview
    at the same ratio). ``weights`` are the Brovey band weights (default: equal)."""
    _check_method(method)
    ratio = check_ratio(ratio)
    ms_lr = np.asarray(ms_lr, dtype=np.float64)
    pan = np.asarray(pan, dtype=np.float64)
    _check_pair(ms_lr, pan, ratio)
    nb = ms_lr.shape[0]
    if method == "brovey":
        w = np.full(nb, 1.0 / nb) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (nb,):
            raise UserError(f"Brovey needs one weight per MS band ({nb}), got {len(w)}")
        return {"method": method, "weights": w.tolist()}
    ms_up = interp23tap(ms_lr, ratio)
    if method == "gsa":
        return _fit_gsa(ms_lr, ms_up, pan, ratio)
    if method == "mtf_glp_hpm":
        return _fit_glp(ms_up, pan, ratio, sensor)
    if method == "bdsd_pc":
        return _fit_bdsd_pc(ms_up, pan, ratio, sensor)
    return _fit_awlp(ms_up, pan, ratio)


def _fit_gsa(ms_lr, ms_up, pan, ratio):
    """GSA (Aiazzi 2007): intensity = regression of a low-passed, decimated PAN on the LR MS;
    injection gains g_b = cov(I, MS_b) / var(I) (toolbox GS/GSA.m)."""
    mu_up = ms_up.mean(axis=(1, 2))
    lr0 = ms_lr - ms_lr.mean(axis=(1, 2), keepdims=True)
    pan_lr = decimate(atrous_lowpass(pan - pan.mean()), ratio)
    design = np.concatenate([lr0.reshape(lr0.shape[0], -1).T, np.ones((lr0[0].size, 1))], axis=1)
    alpha = np.linalg.lstsq(design, pan_lr.ravel(), rcond=None)[0]
    intensity = np.tensordot(alpha[:-1], ms_up - mu_up[:, None, None], axes=1) + alpha[-1]
    i0 = (intensity - intensity.mean()).ravel()
    var_i = i0.var(ddof=1)
    g = [np.cov(i0, (ms_up[b] - mu_up[b]).ravel())[0, 1] / var_i for b in range(ms_up.shape[0])]
    return {"method": "gsa", "alpha": alpha.tolist(), "ms_mean": mu_up.tolist(),
            "pan_mean": float(pan.mean()), "intensity_mean": float(intensity.mean()), "gains": g}


def _fit_glp(ms_up, pan, ratio, sensor):
    """MTF-GLP-HPM: PAN histogram-matched to each band (mean and std against the Gaussian
    low-passed PAN), as in toolbox GLP/MTF_GLP_HPM.m."""
    s = get_sensor(sensor)
    return {"method": "mtf_glp_hpm", "sensor": s.name, "ratio": ratio,
            "gains_nyq": s.ms_gains(ms_up.shape[0]).tolist(),
            "pan_mean": float(pan.mean()), "pan_lp_std": float(lp_filter_gauss(pan, ratio).std(ddof=1)),
            "ms_mean": ms_up.mean(axis=(1, 2)).tolist(), "ms_std": ms_up.std(axis=(1, 2), ddof=1).tolist()}


def _fit_bdsd_pc(ms_up, pan, ratio, sensor):
    """BDSD-PC (Vivone 2019): per band, least squares at reduced scale with physical sign
    constraints (PAN gain >= 0, MS gains <= 0), solved as NNLS (toolbox BDSD/BDSD_PC.m)."""
    s = get_sensor(sensor)
    nb = ms_up.shape[0]
    gt = imresize(ms_up, 1.0 / ratio)
    ms_lr = mtf_filter(gt, s.ms_gains(nb), ratio)
    pan_lr = decimate(mtf_filter(pan[None], [s.gnyq_pan], ratio), ratio)[0]
    h = np.concatenate([pan_lr.reshape(1, -1), ms_lr.reshape(nb, -1)]).T
    sign = -np.ones(nb + 1)
    sign[0] = 1.0
    gamma = np.empty((nb + 1, nb))
    for b in range(nb):
        beta, _ = optimize.nnls(h * sign, (gt[b] - ms_lr[b]).ravel())
        gamma[:, b] = beta * sign
    return {"method": "bdsd_pc", "gamma": gamma.tolist()}


def _fit_awlp(ms_up, pan, ratio):
    """AWLP (Otazu 2005, toolbox version): PAN histogram-matched to each band against a
    bicubically degraded PAN."""
    pan_lr_up = imresize(imresize(pan, 1.0 / ratio), float(ratio))
    return {"method": "awlp", "pan_mean": float(pan.mean()), "pan_lr_std": float(pan_lr_up.std(ddof=1)),
            "ms_mean": ms_up.mean(axis=(1, 2)).tolist(), "ms_std": ms_up.std(axis=(1, 2), ddof=1).tolist()}


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
    ratio = int(p["ratio"])
    scale = np.asarray(p["ms_std"]) / p["pan_lp_std"]
    offset = np.asarray(p["ms_mean"]) - scale * p["pan_mean"]
    gains = p["gains_nyq"]
    out = np.empty_like(ms_up)
    lowpassed = {}
    for b, g in enumerate(gains):
        if g not in lowpassed:  # the MTF-GLP low-pass of PAN, once per distinct MTF gain
            lp = mtf_filter(pan[None], [g], ratio)
            lowpassed[g] = (interp23tap(decimate(lp, ratio), ratio)[0], gaussian_fir(g, ratio).sum())
        # PAN equalised to band b is affine in PAN: filter PAN once, then map (interp23tap keeps
        # constants exactly, the windowed MTF kernel scales them by its sum)
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
    detail = pan - atrous_lowpass(pan)  # histogram matching is affine: details just scale
    intensity_ratio = ms_up / (ms_up.mean(axis=0) + _EPS)
    return ms_up + scale[:, None, None] * detail * intensity_ratio


_APPLY: Dict[str, Callable] = {"brovey": _apply_brovey, "gsa": _apply_gsa, "mtf_glp_hpm": _apply_glp,
                               "bdsd_pc": _apply_bdsd_pc, "awlp": _apply_awlp}


# --------------------------------------------------------------------------- convenience
def pansharpen_tile(params: Dict, ms_lr_tile: np.ndarray, pan_tile: np.ndarray, ratio: int) -> np.ndarray:
    """Upsample the MS tile (interp23tap) and fuse. Read tiles with ``halo_px`` context whose
    PAN origin is a multiple of ``ratio``; crop the halo from the result."""
    ratio = check_ratio(ratio)
    _check_pair(np.asarray(ms_lr_tile), np.asarray(pan_tile), ratio)
    return apply(params, interp23tap(ms_lr_tile, ratio), pan_tile)


def pansharpen(method: str, ms_lr: np.ndarray, pan: np.ndarray, ratio: int = 4, sensor: str = "generic",
               weights: Optional[Sequence[float]] = None) -> np.ndarray:
    """Whole image in memory: fit + upsample + apply. Returns float64 DN (B, H, W)."""
    params = fit(method, ms_lr, pan, ratio, sensor, weights)
    return pansharpen_tile(params, ms_lr, pan, ratio)


def pansharpen_tiled(method: str, ms_lr: np.ndarray, pan: np.ndarray, ratio: int = 4,
                     sensor: str = "generic", tile: int = 256, params: Optional[Dict] = None,
                     weights: Optional[Sequence[float]] = None,
                     progress: Optional[Callable[[float], None]] = None,
                     is_cancelled: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """Reference tiled driver: fit once globally, then apply tile by tile with ``halo_px``.
    ``tile`` is in PAN pixels and is rounded up to a multiple of ratio."""
    from .tiling import iter_tiles
    ratio = check_ratio(ratio)
    ms_lr = np.asarray(ms_lr, dtype=np.float64)
    pan = np.asarray(pan, dtype=np.float64)
    params = params or fit(method, ms_lr, pan, ratio, sensor, weights)
    out = np.empty((ms_lr.shape[0],) + pan.shape)
    for t in iter_tiles(pan.shape, tile, halo_px(method, ratio), ratio, progress, is_cancelled):
        res = pansharpen_tile(params, ms_lr[:, t.lr_read[0], t.lr_read[1]], pan[t.read], ratio)
        out[:, t.write[0], t.write[1]] = res[:, t.crop[0], t.crop[1]]
    return out
