"""Bayesian QDA maths: limits, exactness of the fast and per-pixel paths, persistence."""

import json
import re

import numpy as np
import pytest
from scipy.stats import multivariate_t
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.landcover_bayes import fit, load_model


def posterior_cov(model):
    """Posterior mean of the class covariances ``Psi_n / (nu_n - d - 1)`` (K, d, d)."""
    denominator = model.nu - model.n_bands - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = model.psi / denominator[:, None, None]
    out[denominator <= 0] = np.nan
    return out


def most_probable(model, values):
    return model.class_ids[np.argmax(model.predict_log_joint(values), axis=1)]


def _gaussian_classes(rng, n_per_class, d=4, ids=(1, 2, 7)):
    xs, ys = [], []
    for i, c in enumerate(ids):
        a = rng.normal(size=(d, d)) * (0.5 + 0.3 * i)
        xs.append(rng.normal(size=(n_per_class[i], d)) @ a + rng.normal(scale=2.0, size=d))
        ys.append(np.full(n_per_class[i], c))
    return np.concatenate(xs), np.concatenate(ys)


def test_vanishing_prior_gives_sample_estimates_and_qda_argmax():
    rng = np.random.default_rng(0)
    x_all, y_all = _gaussian_classes(rng, (33000, 23000, 28000))
    test = np.zeros(len(y_all), dtype=bool)
    test[rng.choice(len(y_all), 9000, replace=False)] = True
    x, y, x_test = x_all[~test], y_all[~test], x_all[test]
    model = fit(x, y, prior_strength=0.0, dirichlet_alpha=0.0)
    for k, c in enumerate(model.class_ids):
        xc = x[y == c]
        np.testing.assert_allclose(model.mean[k], xc.mean(axis=0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(posterior_cov(model)[k], np.cov(xc.T), rtol=1e-10)
    np.testing.assert_allclose(np.exp(model.log_class_prior),
                               [np.mean(y == c) for c in (1, 2, 7)], rtol=1e-12)
    qda = QuadraticDiscriminantAnalysis(store_covariance=True).fit(x, y)
    ours = most_probable(model, x_test)
    theirs = qda.predict(x_test)
    assert np.array_equal(ours, theirs)
    # the probabilities converge too (Student-t -> Gaussian as n grows)
    np.testing.assert_allclose(model.predict_proba(x_test), qda.predict_proba(x_test), atol=2e-3)


def test_small_prior_is_continuous_with_the_limit():
    rng = np.random.default_rng(2)
    x, y = _gaussian_classes(rng, (200, 300, 150))
    m0 = fit(x, y, prior_strength=0.0)
    m1 = fit(x, y, prior_strength=1e-7)
    np.testing.assert_allclose(posterior_cov(m1), posterior_cov(m0), rtol=1e-5)
    np.testing.assert_allclose(m1.mean, m0.mean, rtol=1e-6, atol=1e-9)


def test_predictive_is_the_student_t_with_noise_added_to_the_scale():
    rng = np.random.default_rng(3)
    x, y = _gaussian_classes(rng, (60, 90, 40))
    model = fit(x, y, prior_strength=3.0)
    x_test = rng.normal(scale=3.0, size=(40, 4))
    sigma = np.abs(rng.normal(size=(40, 4)))

    def reference(sig_rows):
        out = np.empty((len(x_test), model.n_classes))
        for p in range(len(x_test)):
            for k in range(model.n_classes):
                scale = model.scale[k] + np.diag(sig_rows[p] ** 2)
                out[p, k] = model.log_class_prior[k] + multivariate_t(
                    model.mean[k], scale, df=model.dof[k]).logpdf(x_test[p])
        return out

    np.testing.assert_allclose(model.predict_log_joint(x_test), reference(0 * sigma), rtol=1e-10)
    np.testing.assert_allclose(model.predict_log_joint(x_test, sigma), reference(sigma),
                               rtol=1e-10)
    # one sigma per band (fast path) equals the same sigma given per pixel (exact path)
    const = np.tile(sigma[0], (len(x_test), 1))
    np.testing.assert_allclose(model.predict_log_joint(x_test, sigma[0]),
                               model.predict_log_joint(x_test, const), rtol=1e-10)
    # float32 fast path stays close to float64
    p64 = model.predict_proba(x_test)
    p32 = model.predict_proba(x_test, dtype=np.float32)
    np.testing.assert_allclose(p32, p64, atol=1e-4)
    np.testing.assert_allclose(p64.sum(axis=1), 1.0, rtol=1e-12)


def test_posterior_update_matches_the_niw_formulas():
    rng = np.random.default_rng(4)
    x, y = _gaussian_classes(rng, (50, 80, 30))
    s = 5.0
    model = fit(x, y, prior_strength=s)
    d = x.shape[1]
    m0, psi0 = x.mean(axis=0), s * model.prior_cov
    xc = x[y == 2]
    n, xb = len(xc), xc.mean(axis=0)
    scatter = (xc - xb).T @ (xc - xb)
    k = list(model.class_ids).index(2)
    assert model.kappa[k] == s + n and model.nu[k] == d + s + n
    np.testing.assert_allclose(model.mean[k], (s * m0 + n * xb) / (s + n))
    np.testing.assert_allclose(
        model.psi[k], psi0 + scatter + s * n / (s + n) * np.outer(xb - m0, xb - m0), rtol=1e-12)
    # the prior covariance is the diagonal of the pooled within-class covariance
    pooled = sum(((x[y == c] - x[y == c].mean(0)) ** 2).sum(0) for c in (1, 2, 7)) / (len(x) - 3)
    np.testing.assert_allclose(np.diag(model.prior_cov), pooled)


def test_training_noise_is_removed_from_the_scatter():
    rng = np.random.default_rng(5)
    d, n = 3, 40000
    cov = np.array([[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.8]])
    clean = rng.multivariate_normal(np.zeros(d), cov, size=n)
    clean2 = rng.multivariate_normal(np.ones(d) * 3, cov, size=n)
    sigma = np.array([0.6, 0.4, 0.5])
    x = np.concatenate([clean, clean2]) + rng.normal(size=(2 * n, d)) * sigma
    y = np.repeat([1, 2], n)
    naive = fit(x, y, prior_strength=0.0)
    corrected = fit(x, y, prior_strength=0.0, sigma=sigma)
    assert np.abs(posterior_cov(naive)[0] - cov - np.diag(sigma ** 2)).max() < 0.05
    assert np.abs(posterior_cov(corrected)[0] - cov).max() < 0.05
    assert corrected.training["noise_corrected"] is True


def test_small_class_falls_back_to_the_prior_and_warns_by_name():
    rng = np.random.default_rng(6)
    x, y = _gaussian_classes(rng, (200, 3, 150))
    warnings = []
    model = fit(x, y, class_names=("a", "rare", "c"), prior_strength=0.0,
                callbacks=Callbacks(warn=warnings.append))
    assert len(warnings) == 1
    assert re.search(r"class 'rare' \(id 2\) has only 3 training", warnings[0])
    k = 1
    assert model.class_strength[k] == x.shape[1] + 1
    assert np.all(np.linalg.eigvalsh(model.scale[k]) > 0)
    p = model.predict_proba(x)
    assert np.all(np.isfinite(p))


def test_class_without_pixels_is_a_user_error():
    rng = np.random.default_rng(7)
    x, y = _gaussian_classes(rng, (50, 50, 50))
    with pytest.raises(UserError, match=r"class 'ghost' \(id 9\) has no training pixels"):
        fit(x, y, class_ids=(1, 2, 7, 9), class_names=("a", "b", "c", "ghost"))


@pytest.mark.filterwarnings("error")  # no Python warning either (numpy's)
def test_save_load_round_trip_is_exact_json(tmp_path):
    rng = np.random.default_rng(8)
    x, y = _gaussian_classes(rng, (50, 60, 70))
    warnings = []
    model = fit(x, y, class_names=("a", "b", "c"), colours=("#ff0000", "#00ff00", "#0000ff"),
                band_names=("B1", "B2", "B3", "B4"), prior_strength=2.5, dirichlet_alpha=0.5,
                callbacks=Callbacks(warn=warnings.append))
    assert warnings == []
    path = model.save(tmp_path / "model.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "rsai-bayes-qda" and doc["bands"] == ["B1", "B2", "B3", "B4"]
    assert [c["name"] for c in doc["classes"]] == ["a", "b", "c"]
    loaded = load_model(path)
    assert loaded.class_names == model.class_names and loaded.colours == model.colours
    np.testing.assert_array_equal(loaded.psi, model.psi)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.prior_strength == 2.5 and loaded.dirichlet_alpha == 0.5


def test_bad_model_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_model(tmp_path / "missing.json")
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_model(tmp_path / "junk.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(UserError, match="not a Bayesian land-cover model"):
        load_model(tmp_path / "other.json")


def test_wrong_band_count_at_prediction_is_a_user_error():
    rng = np.random.default_rng(9)
    x, y = _gaussian_classes(rng, (50, 50, 50))
    model = fit(x, y)
    with pytest.raises(UserError, match="expects 4 bands, the input has 3"):
        model.predict_proba(x[:, :3])


def test_sigma_text_of_the_tools():
    from rsai_toolbox.models.landcover_bayes import uncertainty_from_text
    assert uncertainty_from_text(None, "5%").percent == 5.0
    assert uncertainty_from_text(None, " 0.01, 0.02 ").constant == (0.01, 0.02)
    assert uncertainty_from_text(None, "").is_empty and uncertainty_from_text(None, None).is_empty
    assert uncertainty_from_text("sigma.tif", "").sigma_raster == "sigma.tif"
    for bad in ("five%", "0.01,x"):
        with pytest.raises(UserError):
            uncertainty_from_text(None, bad)
