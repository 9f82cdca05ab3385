"""Sensor MTF tables and the linear filters the pansharpening toolbox is built on.

Arrays are bands-first (B, H, W), the layout of GDAL's ReadAsArray and of torch. Every filter
here uses a padding that depends only on pixels near the edge (replicate or half-sample
symmetric), so a tile that touches the image edge is padded exactly like the whole image and
tiled runs equal untiled runs. Where the reference toolbox pads differently this is listed
in the package docstring (``models/pansharpening/__init__.py``).

Nodata: NaN marks a missing value. The filters ignore NaN pixels and renormalise their weights
over the valid ones (normalised convolution, what GDAL's resampling does with nodata), so a
nodata border neither darkens nor brightens the valid pixels next to it.

Phase (where a low-resolution pixel lands on the high-resolution grid), for ``upsample`` and
``decimate``:
- ``"geometric"``: MS pixel edges on PAN pixel edges, as GDAL georeferences a pair that shares an
  origin. MS pixel k covers PAN pixels r*k .. r*k + r-1, its centre is PAN coordinate
  r*k + (r-1)/2 (pixel-centre indexing): 4k + 1.5 for ratio 4.
- ``"toolbox"``: the phase of Vivone's toolbox (interp23tap, nearest decimation): MS pixel k at
  PAN pixel r*k + floor(r/2), 4k + 2 for ratio 4. Right for images degraded the toolbox's way
  (the quality tool's reduced-resolution protocol); half a PAN pixel off on real pairs. For an
  odd ratio both phases are the same.
"""
import math
from dataclasses import dataclass
from typing import Callable, Sequence, Tuple

import numpy as np
from scipy import ndimage, signal

from ..errors import UserError

MTF_TAPS = 41  # size of the toolbox's MTF-matched Gaussian FIR kernels
PHASES = ("geometric", "toolbox")
MAX_RATIO = 16
MIN_SUPPORT = 0.1  # normalised convolution: below this share of valid weight the result is NaN


@dataclass(frozen=True)
class Sensor:
    """Nyquist MTF gains (per MS band and PAN) and the DN scale of a sensor."""

    name: str
    gnyq_ms: Tuple[float, ...]  # empty = same default gain for every band
    gnyq_pan: float
    max_value: int  # 2**bits - 1: 2047 for 11-bit sensors, 1023 for GF2

    def ms_gains(self, nbands: int) -> np.ndarray:
        if not self.gnyq_ms:
            return np.full(nbands, 0.3)
        if len(self.gnyq_ms) != nbands:
            raise UserError(
                f"sensor {self.name} has {len(self.gnyq_ms)} MS bands but the image has {nbands}; "
                "pick the matching sensor or 'generic'")
        return np.asarray(self.gnyq_ms, dtype=float)


# Gains from Vivone's toolbox (Tools/genMTF.m, Tools/MTF_PAN.m in DLPan-Toolbox). GF2 is not in
# that table: it gets the toolbox's default (0.3 MS, 0.15 PAN) with the 10-bit scale.
SENSORS = {
    "WV3": Sensor("WV3", (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315), 0.14, 2047),
    "WV2": Sensor("WV2", (0.35,) * 7 + (0.27,), 0.11, 2047),
    "QB": Sensor("QB", (0.34, 0.32, 0.30, 0.22), 0.15, 2047),
    "GF2": Sensor("GF2", (), 0.15, 1023),
    "generic": Sensor("generic", (), 0.15, 2047),
}


def get_sensor(name: str) -> Sensor:
    for key, sensor in SENSORS.items():
        if key.lower() == str(name).lower():
            return sensor
    raise UserError(f"unknown sensor {name!r}; use one of {', '.join(SENSORS)}")


def check_ratio(ratio: int) -> int:
    ratio = int(ratio)
    if not 2 <= ratio <= MAX_RATIO:
        raise UserError(f"resolution ratio {ratio} is not supported: the MS pixel must be 2 to "
                        f"{MAX_RATIO} times the PAN pixel")
    return ratio


def check_phase(phase: str) -> str:
    if phase not in PHASES:
        raise UserError(f"unknown phase {phase!r}; use one of {', '.join(PHASES)}")
    return phase


def _is_power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


def nan_aware(op: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Apply the linear operator ``op`` ignoring NaN pixels: op(x * valid) / op(valid), NaN where
    the valid pixels carry less than MIN_SUPPORT of the weight. Plain ``op(x)`` without NaN."""
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    if valid.all():
        return op(x)
    num = op(np.where(valid, x, 0.0))
    den = op(valid.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > MIN_SUPPORT, num / den, np.nan)


# --------------------------------------------------------------------------- MTF kernels
def _kaiser_2d(n: int, beta: float = 0.5) -> np.ndarray:
    """1-D Kaiser window rotated into a circular 2-D window (MATLAB fwind1, Huang's method)."""
    t = np.linspace(-1.0, 1.0, n)
    t1, t2 = np.meshgrid(t, t)
    radius = np.hypot(t1, t2)
    w = np.interp(radius, t, np.kaiser(n, beta))
    w[radius > 1.0] = 0.0
    return w


def gaussian_fir(gnyq: float, ratio: int, n: int = MTF_TAPS, use_n_minus_1: bool = True) -> np.ndarray:
    """MTF-matched low-pass: a Gaussian frequency response with gain ``gnyq`` at the MS Nyquist
    frequency, turned into an n x n FIR filter by windowing (toolbox genMTF / fwind1)."""
    span = (n - 1) if use_n_minus_1 else n
    alpha = np.sqrt((span * (0.5 / ratio)) ** 2 / (-2.0 * np.log(gnyq)))
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * alpha ** 2))
    hd = g / g.max()
    h = np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(hd))))
    return h * _kaiser_2d(n)


def filter_replicate(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D correlation with edge replication (MATLAB imfilter 'replicate'); FFT based because
    the MTF kernels are 41 x 41 and not separable."""
    r0, r1 = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(img, ((r0, r0), (r1, r1)), mode="edge")
    return signal.fftconvolve(padded, kernel[::-1, ::-1], mode="valid")


def mtf_filter(stack: np.ndarray, gains: Sequence[float], ratio: int) -> np.ndarray:
    """Filter each band of (B, H, W) with its sensor MTF kernel (toolbox MTF.m)."""
    out = np.empty(stack.shape, dtype=np.float64)
    cache = {}
    for b, g in enumerate(gains):
        if g not in cache:
            cache[g] = gaussian_fir(float(g), ratio)
        out[b] = nan_aware(lambda band: filter_replicate(band, cache[g]), stack[b])
    return out


def decimate(stack: np.ndarray, ratio: int, phase: str = "geometric") -> np.ndarray:
    """One value per ``ratio`` x ``ratio`` block, at the MS pixel's position for ``phase``:
    toolbox: the pixel at offset floor(r/2) (MATLAB imresize(..., 1/ratio, 'nearest'));
    geometric: the block's centre, i.e. the centre pixel (odd ratio) or the mean of the 2 x 2
    centre pixels (even ratio)."""
    o = ratio // 2
    if check_phase(phase) == "toolbox" or ratio % 2:
        return stack[..., o::ratio, o::ratio]

    def centre_mean(x):
        return (x[..., o - 1::ratio, o - 1::ratio] + x[..., o - 1::ratio, o::ratio]
                + x[..., o::ratio, o - 1::ratio] + x[..., o::ratio, o::ratio]) / 4

    return nan_aware(centre_mean, stack)


# --------------------------------------------------------------------------- 23-tap interpolator
_CDF23_HALF = 2.0 * np.array([0.305334091185, -0.072698593239, 0.021809577942,
                              -0.005192756653, 0.000807762146, -0.000060081482])


def _pad_last(x: np.ndarray, width: int, circular: bool) -> np.ndarray:
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(width, width)], mode="wrap" if circular else "edge")


def _midpoints(x: np.ndarray, circular: bool = False) -> np.ndarray:
    """Half-sample values between x[j-1] and x[j] for j = 0..n along the last axis."""
    k = len(_CDF23_HALF)
    xp = _pad_last(x, k, circular)
    n = x.shape[-1]
    mid = np.zeros(x.shape[:-1] + (n + 1,), dtype=np.float64)
    for m, a in enumerate(_CDF23_HALF):
        # x[j+m] + x[j-1-m]  ->  padded indices j+m+k and j-1-m+k
        mid += a * (xp[..., k + m: k + m + n + 1] + xp[..., k - 1 - m: k - 1 - m + n + 1])
    return mid


def _upsample2_last(x: np.ndarray, first: bool, circular: bool) -> np.ndarray:
    n = x.shape[-1]
    mid = _midpoints(x, circular)
    y = np.empty(x.shape[:-1] + (2 * n,), dtype=np.float64)
    if first:  # samples land on odd positions (MATLAB 2:2:end)
        y[..., 1::2] = x
        y[..., 0::2] = mid[..., :n]
    else:  # samples land on even positions (MATLAB 1:2:end)
        y[..., 0::2] = x
        y[..., 1::2] = mid[..., 1:]
    return y


def interp23tap(stack: np.ndarray, ratio: int, circular: bool = False) -> np.ndarray:
    """Upsample (B, h, w) by a power-of-two ``ratio`` with the 23-tap CDF polynomial kernel
    (toolbox interp23tap.m), so LR pixel k lands on HR pixel ratio*k + ratio/2 (the toolbox
    phase). Edge replication, or the toolbox's circular padding with ``circular``."""
    ratio = check_ratio(ratio)
    if not _is_power_of_two(ratio):
        raise UserError(f"interp23tap needs a power-of-two ratio, not {ratio}")
    x = np.asarray(stack, dtype=np.float64)
    first = True
    for _ in range(int(np.log2(ratio))):
        x = _upsample2_last(x, first, circular)
        x = np.swapaxes(_upsample2_last(np.swapaxes(x, -1, -2), first, circular), -1, -2)
        first = False
    return x


# The 23-tap kernel is 12-point Lagrange interpolation evaluated half-way between samples; the
# geometric upsampler evaluates the same polynomial at each HR pixel's own position.
_LAGRANGE_NODES = np.arange(-5, 7)  # 12 nodes: base-5 .. base+6 around the interval [base, base+1]


def _lagrange_weights(f: float) -> np.ndarray:
    """Weights of the 12 nodes for the value at base + f (0 <= f < 1); exact at f = 0."""
    w = np.ones(len(_LAGRANGE_NODES))
    for i, t in enumerate(_LAGRANGE_NODES):
        for s in _LAGRANGE_NODES:
            if s != t:
                w[i] *= (f - s) / (t - s)
    return w


def _phase_offsets(ratio: int, phase: str) -> np.ndarray:
    """Position of HR pixel r*k + j in LR pixels, minus k, for j = 0..r-1."""
    j = np.arange(ratio)
    if phase == "geometric":
        return (j + 0.5) / ratio - 0.5
    return (j - ratio // 2) / ratio


def _lagrange_upsample_last(x: np.ndarray, offsets: np.ndarray, circular: bool) -> np.ndarray:
    """One 12-tap correlation per output phase along the last axis, edges replicated (or
    wrapped): HR pixel r*k + j = sum_m w_j[m] x[k + base_j - 5 + m]."""
    n, r = x.shape[-1], len(offsets)
    out = np.empty(x.shape[:-1] + (n * r,), dtype=np.float64)
    for j, u in enumerate(offsets):
        base = math.floor(u)
        # correlate1d centres the 12 taps on index 6: tap m reads x[i + m - 6 - origin]
        out[..., j::r] = ndimage.correlate1d(x, _lagrange_weights(u - base), axis=-1,
                                             mode="wrap" if circular else "nearest",
                                             origin=-(base + 1))
    return out


def upsample(stack: np.ndarray, ratio: int, phase: str = "geometric",
             circular: bool = False) -> np.ndarray:
    """Upsample the MS (B, h, w) onto the PAN grid with the toolbox's 23-tap polynomial kernel
    at the given phase (see the module docstring). ``toolbox`` with a power-of-two ratio is
    exactly the toolbox's interp23tap; otherwise each HR pixel takes the 12-point Lagrange
    interpolation (the polynomial the 23-tap kernel samples) at its own position, so any whole
    ratio works. NaN pixels are ignored (normalised). ``circular``: the toolbox's padding."""
    ratio = check_ratio(ratio)
    phase = check_phase(phase)
    if phase == "toolbox" and _is_power_of_two(ratio):
        return nan_aware(lambda x: interp23tap(x, ratio, circular), stack)
    offsets = _phase_offsets(ratio, phase)

    def both_axes(x):
        x = _lagrange_upsample_last(x, offsets, circular)
        return np.swapaxes(_lagrange_upsample_last(np.swapaxes(x, -1, -2), offsets, circular), -1, -2)

    return nan_aware(both_axes, stack)


def upsample_halo(ratio: int, phase: str = "geometric") -> int:
    """PAN pixels of context each side that ``upsample`` needs: 11 taps per dyadic stage for
    interp23tap, 6 LR pixels for the Lagrange kernel."""
    if phase == "toolbox" and _is_power_of_two(ratio):
        return 11 * (ratio - 1) + ratio // 2
    return 6 * ratio


# --------------------------------------------------------------------------- MATLAB imresize
def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _resize_matrix(n_in: int, scale: float) -> np.ndarray:
    """Dense (n_out, n_in) operator of MATLAB's bicubic imresize along one axis, antialiased
    when shrinking, with symmetric edge handling."""
    n_out = int(np.ceil(n_in * scale))
    width = 4.0 / scale if scale < 1 else 4.0
    if scale < 1:
        def kern(v):
            return scale * _cubic(scale * v)
    else:
        kern = _cubic
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    w = kern(u[:, None] - idx)
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.repeat(np.arange(n_out), taps), cols.ravel()), w.ravel())
    return m


def imresize(stack: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB imresize(img, scale) (bicubic, antialiasing) for (B, H, W) or (H, W). Its pixel
    centres follow the geometric convention (pixel edges of both grids meet at the image edge)."""
    x = np.asarray(stack, dtype=np.float64)
    mr = _resize_matrix(x.shape[-2], scale)
    mc = _resize_matrix(x.shape[-1], scale)
    return nan_aware(lambda v: np.einsum("ij,...jk,lk->...il", mr, v, mc, optimize=True), x)


def upsample_bicubic(ms_lr: np.ndarray, ratio: int) -> np.ndarray:
    """The 'plain bicubic' baseline: MATLAB-style bicubic upsampling of the MS."""
    return imresize(ms_lr, float(ratio))


# --------------------------------------------------------------------------- other low-passes
_B5 = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16.0


def atrous_levels(ratio: int) -> int:
    return math.ceil(math.log2(ratio))


def _ndwt_lowpass_last(x: np.ndarray, levels: int) -> np.ndarray:
    """The toolbox's undecimated wavelet low-pass along the last axis, edges included: each
    analysis level extends its input half-sample symmetrically by 4 and keeps the full-size
    convolution (n + 4 values, no holes in the filter); synthesis convolves back and keeps the
    central part (ndwt2_working / indwt2_working with details zeroed)."""
    for _ in range(levels):
        xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(4, 4)], mode="symmetric")
        x = sum(w * xp[..., m:m + xp.shape[-1] - 4] for m, w in enumerate(_B5))
    for _ in range(levels):
        x = sum(w * x[..., m:m + x.shape[-1] - 4] for m, w in enumerate(_B5))
    return x


def atrous_lowpass(img: np.ndarray, ratio: int = 4) -> np.ndarray:
    """Low-pass of the toolbox's "a trous" wavelet (ceil(log2 ratio) levels of the [1 4 6 4 1]/16
    filter, details zeroed), edge handling as the toolbox's: away from the edges it is the
    (4 * levels + 1)-tap binomial kernel, 17 taps for ratio 4."""
    levels = atrous_levels(ratio)

    def both_axes(x):
        x = _ndwt_lowpass_last(x, levels)
        return np.swapaxes(_ndwt_lowpass_last(np.swapaxes(x, -1, -2), levels), -1, -2)

    return nan_aware(both_axes, img)


def atrous_halo(ratio: int) -> int:
    """Pixels of context each side ``atrous_lowpass`` needs (2 per filtering, 2 per level)."""
    return 4 * atrous_levels(ratio)


def lp_filter_gauss(img: np.ndarray, ratio: int) -> np.ndarray:
    """Toolbox LPfilterGauss: fixed 0.3 Nyquist gain (kernel width uses N, not N-1)."""
    kernel = gaussian_fir(0.3, ratio, use_n_minus_1=False)
    return nan_aware(lambda x: filter_replicate(x, kernel), img)
