"""Sensor MTF tables and the linear filters the pansharpening toolbox is built on.

Arrays are bands-first (B, H, W), the layout of GDAL's ReadAsArray and of torch. Every filter
here uses a padding that depends only on pixels near the edge (replicate or half-sample
symmetric), so a tile that touches the image edge is padded exactly like the whole image and
tiled runs equal untiled runs. Where the reference toolbox pads differently this is listed
in the package docstring (``models/pansharpening/__init__.py``).
"""
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np
from scipy import ndimage, signal

from ..errors import UserError

MTF_TAPS = 41  # size of the toolbox's MTF-matched Gaussian FIR kernels


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
    if ratio < 2 or ratio & (ratio - 1):
        raise UserError(f"resolution ratio {ratio} is not supported: use a power of two (2, 4, 8)")
    return ratio


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
        out[b] = filter_replicate(stack[b].astype(np.float64), cache[g])
    return out


def decimate(stack: np.ndarray, ratio: int) -> np.ndarray:
    """Keep one pixel in ``ratio`` (MATLAB imresize(..., 1/ratio, 'nearest') picks offset r/2)."""
    o = ratio // 2
    return stack[..., o::ratio, o::ratio]


# --------------------------------------------------------------------------- 23-tap interpolator
_CDF23_HALF = 2.0 * np.array([0.305334091185, -0.072698593239, 0.021809577942,
                              -0.005192756653, 0.000807762146, -0.000060081482])


def _midpoints(x: np.ndarray) -> np.ndarray:
    """Half-sample values between x[j-1] and x[j] for j = 0..n along the last axis."""
    k = len(_CDF23_HALF)
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(k, k)], mode="edge")
    n = x.shape[-1]
    mid = np.zeros(x.shape[:-1] + (n + 1,), dtype=np.float64)
    for m, a in enumerate(_CDF23_HALF):
        # x[j+m] + x[j-1-m]  ->  padded indices j+m+k and j-1-m+k
        mid += a * (xp[..., k + m: k + m + n + 1] + xp[..., k - 1 - m: k - 1 - m + n + 1])
    return mid


def _upsample2_last(x: np.ndarray, first: bool) -> np.ndarray:
    n = x.shape[-1]
    mid = _midpoints(x)
    y = np.empty(x.shape[:-1] + (2 * n,), dtype=np.float64)
    if first:  # samples land on odd positions (MATLAB 2:2:end)
        y[..., 1::2] = x
        y[..., 0::2] = mid[..., :n]
    else:  # samples land on even positions (MATLAB 1:2:end)
        y[..., 0::2] = x
        y[..., 1::2] = mid[..., 1:]
    return y


def interp23tap(stack: np.ndarray, ratio: int) -> np.ndarray:
    """Upsample (B, h, w) by ``ratio`` with the 23-tap CDF polynomial kernel (toolbox
    interp23tap.m), so LR pixel k lands on HR pixel ratio*k + ratio/2. Edge replication instead
    of the toolbox's circular padding."""
    ratio = check_ratio(ratio)
    x = np.asarray(stack, dtype=np.float64)
    first = True
    for _ in range(int(np.log2(ratio))):
        x = _upsample2_last(x, first)
        x = np.swapaxes(_upsample2_last(np.swapaxes(x, -1, -2), first), -1, -2)
        first = False
    return x


def interp23tap_halo(ratio: int) -> int:
    """PAN pixels of context each side that interp23tap needs (11 taps per dyadic stage)."""
    return 11 * (ratio - 1)


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
    """MATLAB imresize(img, scale) (bicubic, antialiasing) for (B, H, W) or (H, W)."""
    x = np.asarray(stack, dtype=np.float64)
    mr = _resize_matrix(x.shape[-2], scale)
    mc = _resize_matrix(x.shape[-1], scale)
    return np.einsum("ij,...jk,lk->...il", mr, x, mc, optimize=True)


def upsample_bicubic(ms_lr: np.ndarray, ratio: int) -> np.ndarray:
    """The 'plain bicubic' baseline: MATLAB-style bicubic upsampling of the MS."""
    return imresize(ms_lr, float(ratio))


# --------------------------------------------------------------------------- other low-passes
_BINOMIAL17 = np.array([1, 16, 120, 560, 1820, 4368, 8008, 11440, 12870, 11440, 8008, 4368,
                        1820, 560, 120, 16, 1], dtype=np.float64) / 65536.0


def atrous_lowpass(img: np.ndarray) -> np.ndarray:
    """Approximation of the toolbox's 2-level undecimated wavelet (ndwt2_working/indwt2_working
    with the [1 4 6 4 1]/16 filters, details zeroed): the 5-tap filter applied twice on analysis
    and twice on synthesis, i.e. the 17-tap binomial kernel, along both axes."""
    out = ndimage.correlate1d(np.asarray(img, dtype=np.float64), _BINOMIAL17, axis=-1, mode="reflect")
    return ndimage.correlate1d(out, _BINOMIAL17, axis=-2, mode="reflect")


ATROUS_HALO = 8


def lp_filter_gauss(img: np.ndarray, ratio: int) -> np.ndarray:
    """Toolbox LPfilterGauss: fixed 0.3 Nyquist gain (kernel width uses N, not N-1)."""
    return filter_replicate(np.asarray(img, dtype=np.float64), gaussian_fir(0.3, ratio, use_n_minus_1=False))
