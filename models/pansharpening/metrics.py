"""Pansharpening quality indices, following Vivone's toolbox (Quality_Indices/ in DLPan-Toolbox).

Reduced resolution (Wald protocol, a reference exists): SAM (degrees), ERGAS, Q2n (Q4/Q8
hypercomplex quality on 32x32 blocks, on DN values cast to uint16 as the toolbox does), SCC.
Full resolution (no reference): D_lambda, D_s, QNR, and HQNR with Khan's D_lambda
(1 - Q2n between the MTF-filtered fused image and the upsampled MS).

Arrays are bands-first (B, H, W) in DN.
"""
from typing import Dict, Optional, Tuple

import numpy as np
from scipy import ndimage

from ..errors import UserError
from .filters import check_phase, check_ratio, decimate, get_sensor, imresize, mtf_filter, upsample

BORDER_CUT = 21  # toolbox dim_cut at reduced resolution
Q_BLOCK = 32


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise UserError(f"images differ in size: {a.shape} vs {b.shape}; resample one onto the other")


def cut_border(img: np.ndarray, cut: int = BORDER_CUT) -> np.ndarray:
    """Toolbox ``I(dim_cut:end-dim_cut, ...)`` (1-based), i.e. [cut-1 : -cut] 0-based."""
    return img[..., cut - 1: img.shape[-2] - cut, cut - 1: img.shape[-1] - cut]


# --------------------------------------------------------------------------- reference indices
def sam(reference: np.ndarray, fused: np.ndarray) -> float:
    """Mean spectral angle in degrees over pixels where neither vector is zero."""
    ref, fus = _f64(reference), _f64(fused)
    _same_shape(ref, fus)
    dot = np.sum(ref * fus, axis=0)
    norm = np.sqrt(np.sum(ref * ref, axis=0) * np.sum(fus * fus, axis=0))
    ok = norm > 0
    cos = np.clip(dot[ok] / norm[ok], -1.0, 1.0)
    return float(np.degrees(np.mean(np.arccos(cos))))


def ergas(reference: np.ndarray, fused: np.ndarray, ratio: int) -> float:
    """100/ratio * sqrt(mean over bands of MSE_b / mean(ref_b)^2)."""
    ref, fus = _f64(reference), _f64(fused)
    _same_shape(ref, fus)
    mse = np.mean((ref - fus) ** 2, axis=(-2, -1))
    mu = np.mean(ref, axis=(-2, -1))
    return float(100.0 / ratio * np.sqrt(np.mean(mse / mu ** 2)))


_SOBEL = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)


def _sobel_magnitude(img: np.ndarray) -> np.ndarray:
    inner = img[..., 1:-1, 1:-1]
    out = np.empty(inner.shape)
    for b in range(inner.shape[0]):
        gy = ndimage.correlate(inner[b], _SOBEL, mode="constant")
        gx = ndimage.correlate(inner[b], _SOBEL.T, mode="constant")
        out[b] = np.hypot(gx, gy)
    return out


def scc(reference: np.ndarray, fused: np.ndarray) -> float:
    """Spatial correlation coefficient of Sobel gradient magnitudes (toolbox SCC.m)."""
    ref, fus = _f64(reference), _f64(fused)
    _same_shape(ref, fus)
    a, b = _sobel_magnitude(fus), _sobel_magnitude(ref)
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a)) / np.sqrt(np.sum(b * b)))


# --------------------------------------------------------------------------- Q2n
def _conj(x: np.ndarray) -> np.ndarray:
    y = -x
    y[..., 0] = x[..., 0]
    return y


def onion_mult(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cayley-Dickson ("onion") product of hypercomplex numbers stored on the last axis
    (toolbox onion_mult / onion_mult2D); the length must be a power of two."""
    n = x.shape[-1]
    if n == 1:
        return x * y
    h = n // 2
    a, b = x[..., :h], _conj(x[..., h:])
    c, d = y[..., :h], _conj(y[..., h:])
    if n == 2:
        return np.concatenate([a * c - d * b, a * d + c * b], axis=-1)
    r1 = onion_mult(a, c)
    r2 = onion_mult(d, _conj(b))
    r3 = onion_mult(_conj(a), d)
    r4 = onion_mult(c, b)
    return np.concatenate([r1 - r2, r3 + r4], axis=-1)


def _onions_quality(ref: np.ndarray, fus: np.ndarray) -> np.ndarray:
    """Hypercomplex Q of many blocks at once: ref, fus (nblocks, npix, N) -> (nblocks, N)."""
    eps = np.finfo(np.float64).eps
    ref = ref.astype(np.float64)
    fus = _conj(fus.astype(np.float64))
    npix = ref.shape[1]
    k = npix / (npix - 1)
    s = ref.mean(axis=1, keepdims=True)
    t = ref.std(axis=1, ddof=1, keepdims=True)
    t = np.where(t == 0, eps, t)
    ref_n = (ref - s) / t + 1
    # fused bands are normalised with the reference statistics; conjugated parts keep their sign
    sign = np.ones(ref.shape[-1])
    sign[1:] = -1
    fus_n = sign * ((sign * fus - s) / t + 1)
    # toolbox special case: a zero-mean reference band is only shifted, not scaled
    zero_mean = np.broadcast_to(s == 0, fus.shape)
    fus_n = np.where(zero_mean, sign * (sign * fus - s + 1), fus_n)
    m1, m2 = ref_n.mean(axis=1), fus_n.mean(axis=1)
    mod1m2, mod2m2 = np.sum(m1 ** 2, axis=-1), np.sum(m2 ** 2, axis=-1)
    int1 = k * np.mean(np.sum(ref_n ** 2, axis=-1), axis=1)
    int2 = k * np.mean(np.sum(fus_n ** 2, axis=-1), axis=1)
    term3 = int1 + int2 - k * (mod1m2 + mod2m2)
    mean_bias = 2 * np.sqrt(mod1m2 * mod2m2) / (mod1m2 + mod2m2)
    qu = onion_mult(ref_n, fus_n).mean(axis=1)
    qm = onion_mult(m1, m2)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (k * qu - k * qm) * (mean_bias * 2 / term3)[:, None]
    flat = term3 == 0
    if np.any(flat):
        q[flat] = 0.0
        q[flat, -1] = mean_bias[flat]
    return q


def q2n(reference: np.ndarray, fused: np.ndarray, block: int = Q_BLOCK, shift: Optional[int] = None) -> float:
    """Q2n (Q4 for 4 bands, Q8 for 8): mean over blocks of the modulus of the hypercomplex
    quality. Like the toolbox, images are mirror-padded to whole blocks, cast to uint16 (so
    inputs are DN, not reflectance) and zero bands are appended up to a power of two."""
    shift = block if shift is None else shift
    ref, fus = _f64(reference), _f64(fused)
    _same_shape(ref, fus)
    nb, h, w = ref.shape
    steps_y, steps_x = -(-h // shift), -(-w // shift)
    ey, ex = (steps_y - 1) * shift + block - h, (steps_x - 1) * shift + block - w
    if ey or ex:
        pad = ((0, 0), (0, ey), (0, ex))
        ref, fus = np.pad(ref, pad, mode="symmetric"), np.pad(fus, pad, mode="symmetric")
    # MATLAB uint16(): round half away from zero, saturate
    ref = np.clip(np.floor(ref + 0.5), 0, 65535)
    fus = np.clip(np.floor(fus + 0.5), 0, 65535)
    n2 = 1 << int(np.ceil(np.log2(nb)))
    if n2 != nb:
        zeros = np.zeros((n2 - nb,) + ref.shape[1:])
        ref, fus = np.concatenate([ref, zeros]), np.concatenate([fus, zeros])

    def blocks(x):
        out = []
        for j in range(steps_y):
            for i in range(steps_x):
                blk = x[:, j * shift: j * shift + block, i * shift: i * shift + block]
                out.append(blk.reshape(n2, -1).T)
        return np.stack(out)

    q = _onions_quality(blocks(ref), blocks(fus))
    return float(np.mean(np.sqrt(np.sum(q ** 2, axis=-1))))


def uqi(x: np.ndarray, y: np.ndarray) -> float:
    """Universal image quality index (Wang-Bovik Q) of two whole arrays."""
    x, y = _f64(x).ravel(), _f64(y).ravel()
    mx, my = x.mean(), y.mean()
    c = np.cov(x, y)
    return float(4 * c[0, 1] * mx * my / (c[0, 0] + c[1, 1]) / (mx ** 2 + my ** 2))


def _uqi_blocks(x: np.ndarray, y: np.ndarray, s: int) -> float:
    """Mean UQI over non-overlapping s x s blocks of two (H, W) images (MATLAB blockproc)."""
    h, w = x.shape
    xb = x[: h // s * s, : w // s * s].reshape(h // s, s, w // s, s).transpose(0, 2, 1, 3).reshape(-1, s * s)
    yb = y[: h // s * s, : w // s * s].reshape(h // s, s, w // s, s).transpose(0, 2, 1, 3).reshape(-1, s * s)
    mx, my = xb.mean(1), yb.mean(1)
    n = s * s
    vx = xb.var(1, ddof=1)
    vy = yb.var(1, ddof=1)
    cxy = np.sum((xb - mx[:, None]) * (yb - my[:, None]), axis=1) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = 4 * cxy * mx * my / (vx + vy) / (mx ** 2 + my ** 2)
    return float(np.mean(q))


def _check_blocks(shape, s: int) -> None:
    if shape[-2] % s or shape[-1] % s:
        raise UserError(f"full-resolution indices need an image size that is a multiple of {s} "
                        f"pixels (got {shape[-2]} x {shape[-1]}); crop the image")


# --------------------------------------------------------------------------- full resolution
def d_lambda_khan(fused: np.ndarray, ms_up: np.ndarray, ratio: int, sensor: str, block: int = Q_BLOCK) -> float:
    """Khan's spectral distortion: 1 - Q2n(upsampled MS, MTF-filtered fused) (toolbox D_lambda_K)."""
    fused, ms_up = _f64(fused), _f64(ms_up)
    _same_shape(fused, ms_up)
    _check_blocks(fused.shape, block)
    gains = get_sensor(sensor).ms_gains(fused.shape[0])
    return 1.0 - q2n(ms_up, mtf_filter(fused, gains, ratio), block, block)


def d_lambda(fused: np.ndarray, ms_up: np.ndarray, block: int = Q_BLOCK, p: int = 1) -> float:
    """QNR spectral distortion: change of the band-to-band UQI (toolbox D_lambda, Toolbox 1.0 mode)."""
    fused, ms_up = _f64(fused), _f64(ms_up)
    _same_shape(fused, ms_up)
    _check_blocks(fused.shape, block)
    nb = fused.shape[0]
    total = 0.0
    for i in range(nb - 1):
        for j in range(i + 1, nb):
            q_exp = _uqi_blocks(ms_up[i], ms_up[j], block)
            q_fus = _uqi_blocks(fused[i], fused[j], block)
            total += abs(q_fus - q_exp) ** p
    return float((total / (nb * (nb - 1) / 2)) ** (1.0 / p))


def d_s(fused: np.ndarray, ms_up: np.ndarray, pan: np.ndarray, ratio: int, block: int = Q_BLOCK, q: int = 1,
        phase: str = "geometric") -> float:
    """Spatial distortion: change of the band-to-PAN UQI between full scale and a degraded
    PAN (upsample(imresize(PAN, 1/ratio))) (toolbox D_s, Toolbox 1.0 mode; the toolbox
    upsamples with its own phase, ``phase="toolbox"``)."""
    fused, ms_up, pan = _f64(fused), _f64(ms_up), _f64(pan)
    _same_shape(fused, ms_up)
    _check_blocks(fused.shape, block)
    pan_filt = upsample(imresize(pan, 1.0 / ratio)[None], ratio, phase)[0]
    total = 0.0
    for b in range(fused.shape[0]):
        q_high = _uqi_blocks(fused[b], pan, block)
        q_low = _uqi_blocks(ms_up[b], pan_filt, block)
        total += abs(q_high - q_low) ** q
    return float((total / fused.shape[0]) ** (1.0 / q))


def full_resolution_indices(fused: np.ndarray, ms_lr: np.ndarray, pan: np.ndarray, ratio: int,
                            sensor: str, block: int = Q_BLOCK, phase: str = "geometric") -> Dict[str, float]:
    """D_lambda, D_s, QNR, D_lambda (Khan) and HQNR of a fused image against its inputs. The MS
    is upsampled at ``phase``: geometric for a real georeferenced pair (the fused image is on
    that grid), toolbox to reproduce the toolbox on its own data."""
    ratio = check_ratio(ratio)
    ms_up = upsample(ms_lr, ratio, check_phase(phase))
    dl = d_lambda(fused, ms_up, block)
    ds = d_s(fused, ms_up, pan, ratio, block, phase=phase)
    dlk = d_lambda_khan(fused, ms_up, ratio, sensor, block)
    return {"D_lambda": dl, "D_s": ds, "QNR": (1 - dl) * (1 - ds),
            "D_lambda_K": dlk, "HQNR": (1 - dlk) * (1 - ds)}


# --------------------------------------------------------------------------- reduced resolution
# How the PAN is degraded in the reduced-resolution (Wald) protocol:
# "bicubic": MATLAB bicubic imresize, as the toolbox's resize_images does (the default, so
#            figures compare with published tables); "mtf": the PAN's MTF filter, then
#            decimation (like the MS).
PAN_DEGRADATIONS = ("bicubic", "mtf")


def reduced_resolution_pair(ms_lr: np.ndarray, pan: np.ndarray, ratio: int, sensor: str,
                            pan_degradation: str = "bicubic"
                            ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wald protocol as the toolbox's resize_images: the MS blurred with its MTF filters and
    decimated (nearest, the toolbox's phase), the PAN by ``pan_degradation``.

    Returns (ms_lr_reduced, pan_reduced, reference) where the reference is the original MS.
    Fuse the reduced pair with ``phase="toolbox"``: its MS pixel k sits on reference pixel
    ratio*k + ratio/2.
    """
    ratio = check_ratio(ratio)
    if pan_degradation not in PAN_DEGRADATIONS:
        raise UserError(f"unknown PAN degradation {pan_degradation!r}; use one of "
                        f"{', '.join(PAN_DEGRADATIONS)}")
    ms_lr, pan = _f64(ms_lr), _f64(pan)
    if pan.shape[-2:] != (ms_lr.shape[-2] * ratio, ms_lr.shape[-1] * ratio):
        raise UserError(f"PAN {pan.shape[-2:]} is not {ratio} x the MS size {ms_lr.shape[-2:]}")
    s = get_sensor(sensor)
    ms_red = decimate(mtf_filter(ms_lr, s.ms_gains(ms_lr.shape[0]), ratio), ratio, "toolbox")
    if pan_degradation == "bicubic":
        pan_red = imresize(pan, 1.0 / ratio)
    else:
        pan_red = decimate(mtf_filter(pan[None], [s.gnyq_pan], ratio), ratio, "toolbox")[0]
    return ms_red, pan_red, ms_lr


def reduced_resolution_indices(fused: np.ndarray, reference: np.ndarray, ratio: int,
                               cut: Optional[int] = BORDER_CUT, block: int = Q_BLOCK) -> Dict[str, float]:
    """SAM, ERGAS, Q2n and SCC with the toolbox's border cut (None or 0: no cut, for tiny images)."""
    fused, reference = _f64(fused), _f64(reference)
    _same_shape(fused, reference)
    if cut:
        fused, reference = cut_border(fused, cut), cut_border(reference, cut)
    return {"SAM": sam(reference, fused), "ERGAS": ergas(reference, fused, ratio),
            "Q2n": q2n(reference, fused, block), "SCC": scc(reference, fused)}
