"""Plain numpy transcriptions of the parts of Vivone's pansharpening toolbox (as shipped in
DLPan-Toolbox) the tests compare the plugin with, step by step as the MATLAB functions do them:
interp23tap (circular padding), ndwt2_working / indwt2_working (LPfilterPlusDec), GSA and
BDSD_PC. Deliberately naive and separate from models/pansharpening; only the sensor MTF
filters and imresize (equal to the toolbox's) are the plugin's.

They serve as references for the plugin's ``phase="toolbox"`` mode; their figures on the WV2
pair are checked against the toolbox's own (quoted in issue 11) in the tests.
"""
import numpy as np
from scipy import ndimage, optimize

from rsai_toolbox.models.pansharpening import filters as F

_CDF23 = 2 * np.array([0.5, 0.305334091185, 0, -0.072698593239, 0, 0.021809577942, 0,
                       -0.005192756653, 0, 0.000807762146, 0, -0.000060081482])
_BASE = np.concatenate([_CDF23[:0:-1], _CDF23])  # the 23 taps
_H = np.array([1, 4, 6, 4, 1]) / 16  # the S&M filter (the sqrt(2) factors and the /4 cancel)


def interp23tap(ms: np.ndarray, ratio: int) -> np.ndarray:
    """interp23tap.m: zeros inserted (first stage at 2:2:end, then 1:2:end), 'circular' imfilter
    along both axes, once per factor 2."""
    x = np.asarray(ms, dtype=np.float64)
    first = True
    for _ in range(int(np.log2(ratio))):
        up = np.zeros(x.shape[:-2] + (2 * x.shape[-2], 2 * x.shape[-1]))
        if first:
            up[..., 1::2, 1::2] = x
            first = False
        else:
            up[..., 0::2, 0::2] = x
        up = ndimage.correlate1d(up, _BASE, axis=-1, mode="wrap")
        x = ndimage.correlate1d(up, _BASE, axis=-2, mode="wrap")
    return x


def _wdec1d(v: np.ndarray) -> np.ndarray:
    """ndwt2_working's wdec1D, 'sym' mode, low-pass only: X(:,lf-1:-1:1), X, X(:,end:-1:end-lf+1)
    (4 values left, 5 right), full convolution, keep lf .. end-lf+1, then the central lx+lf-1."""
    lf, n = len(_H), len(v)
    extended = np.concatenate([v[lf - 2::-1], v, v[n - 1:n - lf - 1:-1]])
    low = np.convolve(extended, _H)
    low = low[lf - 1:len(low) - lf + 1]
    first = (len(low) - (n + lf - 1)) // 2
    return low[first:first + n + lf - 1]


def _wrec1d(v: np.ndarray, size: int) -> np.ndarray:
    """indwt2_working's wrec1D (full convolution) and extraction of the central part."""
    full = np.convolve(v, _H)
    cut = len(full) - size
    return full[cut // 2:len(full) - (cut - cut // 2)]


def _along(fn, x: np.ndarray, axis: int) -> np.ndarray:
    return np.apply_along_axis(fn, axis, x)


def lp_filter(image: np.ndarray, ratio: int) -> np.ndarray:
    """ndwt2_working with ceil(log2(ratio)) levels, details zeroed, indwt2_working(WT, 'c')."""
    levels = int(np.ceil(np.log2(ratio)))
    x = np.asarray(image, dtype=np.float64)
    for axis in (1, 0):
        sizes = [x.shape[axis]]
        for _ in range(levels):
            x = _along(_wdec1d, x, axis)
            sizes.append(x.shape[axis])
        for size in sizes[-2::-1]:
            x = _along(lambda v: _wrec1d(v, size), x, axis)
    return x


def gsa(ms_lr: np.ndarray, pan: np.ndarray, ratio: int) -> np.ndarray:
    """GSA.m with I_MS = interp23tap(I_MS_LR) and LPfilterPlusDec (nearest decimation)."""
    ms = interp23tap(ms_lr, ratio)
    o = ratio // 2
    ms0 = ms - ms.mean(axis=(1, 2), keepdims=True)
    lr0 = ms_lr - ms_lr.mean(axis=(1, 2), keepdims=True)
    pan_lr = lp_filter(pan - pan.mean(), ratio)[o::ratio, o::ratio]
    design = np.column_stack([lr0.reshape(len(lr0), -1).T, np.ones(pan_lr.size)])
    alpha = np.linalg.lstsq(design, pan_lr.ravel(), rcond=None)[0]
    intensity = np.tensordot(alpha[:-1], ms0, axes=1) + alpha[-1]
    i0 = intensity - intensity.mean()
    gains = [np.cov(i0.ravel(), band.ravel())[0, 1] / np.var(i0, ddof=1) for band in ms0]
    delta = (pan - pan.mean()) - i0
    fused = np.stack([band + g * delta for band, g in zip(ms0, gains)])
    return fused - fused.mean(axis=(1, 2), keepdims=True) + ms.mean(axis=(1, 2), keepdims=True)


def bdsd_pc(ms_lr: np.ndarray, pan: np.ndarray, ratio: int, sensor: str) -> np.ndarray:
    """BDSD_PC.m with I_MS = interp23tap(I_MS_LR); lsqlin's sign constraints (PAN gain >= 0,
    MS gains <= 0) as bounds of a bounded least squares."""
    s = F.get_sensor(sensor)
    ms = interp23tap(ms_lr, ratio)
    nb = ms.shape[0]
    o = ratio // 2
    gt = F.imresize(ms, 1.0 / ratio)
    ms_lr2 = F.mtf_filter(gt, s.ms_gains(nb), ratio)
    pan_lr = F.mtf_filter(pan[None], [s.gnyq_pan], ratio)[0][o::ratio, o::ratio]
    h = np.column_stack([pan_lr.ravel(), ms_lr2.reshape(nb, -1).T])
    lower = np.r_[0.0, np.full(nb, -np.inf)]
    upper = np.r_[np.inf, np.zeros(nb)]
    fused = np.empty_like(ms)
    full = np.column_stack([pan.ravel(), ms.reshape(nb, -1).T])
    for b in range(nb):
        gamma = optimize.lsq_linear(h, (gt[b] - ms_lr2[b]).ravel(), bounds=(lower, upper),
                                    method="bvls", tol=1e-12).x
        fused[b] = ms[b] + (full @ gamma).reshape(ms.shape[1:])
    return fused
