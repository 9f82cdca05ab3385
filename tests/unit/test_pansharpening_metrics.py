"""Quality indices and filters of the pansharpening core on hand-checkable cases."""
import numpy as np
import pytest

from rsai_toolbox.models.pansharpening import filters as F
from rsai_toolbox.models.pansharpening import metrics as M

import toolbox_reference as T


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    base = rng.integers(200, 1800, size=(8, 64, 64)).astype(float)
    return base


def test_identical_images_are_perfect(image):
    assert M.sam(image, image) == pytest.approx(0.0, abs=1e-6)
    assert M.ergas(image, image, 4) == 0.0
    assert M.q2n(image, image) == pytest.approx(1.0, abs=1e-12)
    assert M.scc(image, image) == pytest.approx(1.0, abs=1e-12)


def test_ergas_of_constant_offset_is_closed_form(image):
    offset = np.arange(1, 9, dtype=float)[:, None, None] * 5.0
    mu = image.mean(axis=(1, 2))
    expected = 100 / 4 * np.sqrt(np.mean((offset.ravel() / mu) ** 2))
    assert M.ergas(image, image + offset, 4) == pytest.approx(expected, rel=1e-12)


def test_sam_of_rotated_vectors_is_the_rotation_angle():
    theta = np.radians(17.0)
    rng = np.random.default_rng(1)
    length = rng.uniform(1, 5, size=(16, 16))
    ref = np.stack([length, np.zeros_like(length), np.zeros_like(length)])
    fused = np.stack([length * np.cos(theta), length * np.sin(theta), np.zeros_like(length)])
    assert M.sam(ref, fused) == pytest.approx(17.0, abs=1e-9)


def test_sam_ignores_per_pixel_brightness(image):
    gain = np.random.default_rng(2).uniform(0.5, 2.0, size=image.shape[1:])
    assert M.sam(image, image * gain) == pytest.approx(0.0, abs=1e-5)
    assert M.ergas(image, image * gain, 4) > 1.0


def test_uqi_of_scaled_image_is_closed_form():
    x = np.random.default_rng(3).uniform(10, 100, size=(32, 32))
    a = 1.7
    assert M.uqi(x, a * x) == pytest.approx((2 * a / (1 + a * a)) ** 2, rel=1e-12)


def test_q2n_single_band_is_uqi_of_normalised_blocks():
    """One band: the hypercomplex Q reduces to Wang-Bovik Q of both images normalised with the
    reference block's mean and std (toolbox norm_blocco), averaged over 32x32 blocks."""
    rng = np.random.default_rng(4)
    ref = rng.integers(100, 900, size=(1, 64, 64)).astype(float)
    fus = np.round(0.8 * ref + rng.normal(0, 40, size=ref.shape) + 30).clip(0)
    expected = []
    for y in (0, 32):
        for x in (0, 32):
            r, f = ref[0, y:y + 32, x:x + 32], fus[0, y:y + 32, x:x + 32]
            s, t = r.mean(), r.std(ddof=1)
            expected.append(abs(M.uqi((r - s) / t + 1, (f - s) / t + 1)))
    assert M.q2n(ref, fus) == pytest.approx(np.mean(expected), rel=1e-10)


def test_q2n_invariant_to_common_affine_band_change_and_penalises_noise(image):
    noisy = np.round(image + np.random.default_rng(5).normal(0, 300, image.shape)).clip(0)
    q = M.q2n(image, noisy)
    assert 0.5 < q < 0.99
    gain, bias = 2.0, 10.0  # integers stay integers: uint16 rounding does not interfere
    assert M.q2n(gain * image + bias, gain * noisy + bias) == pytest.approx(q, rel=1e-9)
    assert M.q2n(image, image * 0.5) < 0.95  # a global scale is a spectral/radiometric error


@pytest.mark.parametrize("n", [2, 4, 8])
def test_onion_product_is_multiplicative_in_norm(n):
    """Complex numbers, quaternions and octonions are normed algebras: |xy| = |x||y|."""
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=(10, n)), rng.normal(size=(10, n))
    prod = M.onion_mult(x, y)
    assert np.allclose(np.linalg.norm(prod, axis=1), np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


def test_two_component_onion_product_is_the_complex_product():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])  # (1 + 2i)(3 - i) = 5 + 5i
    assert np.allclose(M.onion_mult(x, y), [1 * 3 - (-1) * 2, 1 * (-1) + 3 * 2])


def test_interp23tap_interpolates_and_keeps_constants():
    x = np.random.default_rng(6).uniform(0, 100, size=(2, 12, 10))
    up = F.interp23tap(x, 4)
    assert up.shape == (2, 48, 40)
    assert np.allclose(up[:, 2::4, 2::4], x)  # LR pixel k lands on HR pixel 4k + 2
    assert np.allclose(F.interp23tap(np.full((1, 6, 6), 7.0), 4), 7.0, atol=1e-7)


@pytest.mark.parametrize("ratio", [2, 3, 4, 8])
def test_geometric_upsampling_puts_ms_pixel_k_at_its_footprint_centre(ratio):
    """Pixel edges on pixel edges: MS pixel k covers PAN pixels r*k .. r*k+r-1, so a single
    bright MS pixel is centred on PAN coordinate r*k + (r-1)/2 (the toolbox phase: r*k + r/2)."""
    ms = np.zeros((1, 20, 20))
    ms[0, 9, 10] = 1.0
    for phase, shift in (("geometric", 0.0), ("toolbox", 0.5 * (1 - ratio % 2))):
        up = F.upsample(ms, ratio, phase)[0]
        ys, xs = np.mgrid[:up.shape[0], :up.shape[1]]
        centre = ((up * ys).sum() / up.sum(), (up * xs).sum() / up.sum())
        expected = (ratio * 9 + (ratio - 1) / 2 + shift, ratio * 10 + (ratio - 1) / 2 + shift)
        assert np.allclose(centre, expected, atol=1e-9)


def test_geometric_upsampling_is_exact_for_polynomials_and_tileable():
    """The 12-point Lagrange kernel reproduces polynomials up to degree 11 at the geometric
    positions, and needs only ``upsample_halo`` of context."""
    k = np.arange(30.0)
    ms = np.add.outer(0.01 * k ** 3, k ** 2)[None]
    up = F.upsample(ms, 4)[0]
    u = (np.arange(120) + 0.5) / 4 - 0.5
    halo = F.upsample_halo(4)
    assert np.abs(up - np.add.outer(0.01 * u ** 3, u ** 2))[halo:-halo, halo:-halo].max() < 1e-9
    part = F.upsample(ms[:, 5:25, 3:27], 4)[0]
    assert np.allclose(part[halo:-halo, halo:-halo], up[20 + halo:100 - halo, 12 + halo:108 - halo])


def test_toolbox_upsampling_is_the_toolbox_interp23tap():
    x = np.random.default_rng(7).uniform(0, 100, size=(2, 12, 10))
    assert np.array_equal(F.upsample(x, 4, "toolbox"), F.interp23tap(x, 4))
    assert np.allclose(F.interp23tap(x, 4, circular=True), T.interp23tap(x, 4), atol=1e-10)


def test_atrous_lowpass_has_the_toolbox_wavelet_edges():
    """Equal to ndwt2_working + indwt2_working (details zeroed) everywhere, edges included;
    the 17-tap binomial kernel away from them."""
    img = np.random.default_rng(8).uniform(0, 1000, size=(37, 52))
    ours = F.atrous_lowpass(img, 4)
    assert np.allclose(ours, T.lp_filter(img, 4), atol=1e-9)
    binomial = np.convolve(np.convolve([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]), np.convolve([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])) / 16 ** 4
    inner = sum(w * img[:, m:m + 52 - 16] for m, w in enumerate(binomial))
    inner = sum(w * inner[m:m + 37 - 16] for m, w in enumerate(binomial))
    assert np.allclose(ours[8:-8, 8:-8], inner, atol=1e-9)
    assert np.allclose(F.atrous_lowpass(img, 2), T.lp_filter(img, 2), atol=1e-9)


def test_filters_ignore_nodata():
    """NaN pixels are left out and the weights renormalised: a constant image with holes and a
    NaN frame stays constant wherever a value comes out."""
    img = np.full((1, 24, 24), 700.0)
    img[:, :3] = np.nan
    img[:, 10:12, 5:9] = np.nan
    for out in (F.upsample(img, 4), F.upsample(img, 4, "toolbox"), F.mtf_filter(img, [0.3], 4),
                F.atrous_lowpass(img[0]), F.imresize(img, 0.5), F.decimate(img, 4)):
        finite = np.isfinite(out)
        assert finite.mean() > 0.5 and np.allclose(out[finite], 700.0)


def test_mtf_kernel_gain_at_nyquist():
    """The MTF kernel's frequency response at the MS Nyquist frequency is the sensor gain."""
    h = F.gaussian_fir(0.3, 4)
    n = 512
    spectrum = np.abs(np.fft.fft2(h, s=(n, n)))
    nyquist = n // 8  # 1/(2*ratio) cycles per pixel
    assert spectrum[0, 0] == pytest.approx(1.0, abs=5e-3)
    assert spectrum[0, nyquist] == pytest.approx(0.3, abs=0.02)


def test_full_resolution_indices_of_the_upsampled_ms(image):
    ms_lr = image[:, :16, :16]
    pan = F.interp23tap(ms_lr, 4).mean(axis=0)
    ms_up = F.interp23tap(ms_lr, 4)
    assert M.d_lambda(ms_up, ms_up) == 0.0
    res = M.full_resolution_indices(ms_up, ms_lr, pan, 4, "WV2")
    for key in ("D_lambda_K", "D_s"):
        assert 0.0 <= res[key] < 1.0
    assert res["HQNR"] == pytest.approx((1 - res["D_lambda_K"]) * (1 - res["D_s"]))


def test_reduced_resolution_pair_shapes_and_protocols(image):
    pan = F.interp23tap(image, 4).mean(axis=0)
    ms_r, pan_r, ref = M.reduced_resolution_pair(image, pan, 4, "WV3")
    assert ms_r.shape == (8, 16, 16) and pan_r.shape == (64, 64) and ref is not None
    assert ref.shape == image.shape
    assert np.array_equal(pan_r, F.imresize(pan, 0.25))  # default: the toolbox's bicubic PAN
    _, pan_m, _ = M.reduced_resolution_pair(image, pan, 4, "WV3", "mtf")
    assert np.array_equal(pan_m, F.mtf_filter(pan[None], [0.14], 4)[0, 2::4, 2::4])
    with pytest.raises(Exception, match="PAN degradation"):
        M.reduced_resolution_pair(image, pan, 4, "WV3", "gaussian")


def test_border_cut_matches_toolbox_indexing():
    x = np.arange(100 * 100, dtype=float).reshape(1, 100, 100)
    cut = M.cut_border(x)
    assert cut.shape == (1, 59, 59)  # 100 - 2*21 + 1
    assert cut[0, 0, 0] == x[0, 20, 20]
