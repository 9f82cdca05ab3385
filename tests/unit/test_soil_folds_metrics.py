"""Cross-validation folds (spatial blocks, random, given) and the scores and conformal intervals
computed from held-out predictions."""

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error, r2_score

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.soil.folds import given_folds, random_folds, spatial_block_folds
from rsai_toolbox.models.soil.metrics import (conformal_half_width, coverage_per_fold,
                                              pooled_coverage, scores)


def test_spatial_blocks_go_whole_to_one_fold_and_folds_are_balanced():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1000, (400, 2)) + (463000, 5800000)
    folds = spatial_block_folds(xy, block_size=100, n_folds=5, seed=3)
    blocks = [tuple(b) for b in np.floor(xy / 100).astype(int)]
    fold_of = {}
    for block, fold in zip(blocks, folds):
        assert fold_of.setdefault(block, fold) == fold  # one fold per block
    counts = np.bincount(folds, minlength=5)
    assert counts.min() >= 70 and counts.max() <= 90
    assert not np.array_equal(folds, spatial_block_folds(xy, 100, 5, seed=4))


def test_too_few_blocks_or_samples_for_the_folds_are_refused():
    xy = np.array([[0.0, 0.0], [10.0, 10.0], [500.0, 0.0]])
    with pytest.raises(UserError, match="only 2 blocks of 250 m, fewer than the 3 folds"):
        spatial_block_folds(xy, 250, 3)
    with pytest.raises(UserError, match="3 samples are fewer than the 5 CV folds"):
        spatial_block_folds(xy, 1, 5)
    with pytest.raises(UserError, match="at least 2 folds"):
        random_folds(10, 1)


def test_random_folds_keep_samples_of_one_pixel_together():
    groups = np.repeat(np.arange(20), 3)[:, None] * np.ones((1, 4))  # 20 distinct rows x3
    folds = random_folds(60, 5, seed=1, groups=groups)
    for g in range(20):
        assert len(set(folds[g * 3:g * 3 + 3])) == 1
    assert np.bincount(folds).tolist() == [12] * 5


def test_given_folds_come_from_any_field_values():
    assert given_folds([3, 1, 10, 2, 1], "fold").tolist() == [2, 0, 3, 1, 0]
    assert given_folds(["north", "south", "north"], "zone").tolist() == [0, 1, 0]
    with pytest.raises(UserError, match="1 samples have an empty fold field 'fold'"):
        given_folds([1, None, 2], "fold")
    with pytest.raises(UserError, match="single value"):
        given_folds([4, 4, 4], "fold")


def test_scores_match_scikit_learn_and_lins_concordance():
    rng = np.random.default_rng(5)
    observed = rng.normal(6, 0.5, 200)
    predicted = observed * 0.7 + 2.0 + rng.normal(0, 0.2, 200)
    s = scores(observed, predicted)
    assert s.n == 200
    assert s.r2 == pytest.approx(r2_score(observed, predicted), rel=1e-12)
    assert s.rmse == pytest.approx(np.sqrt(mean_squared_error(observed, predicted)), rel=1e-12)
    assert s.bias == pytest.approx(np.mean(predicted - observed))
    r = np.corrcoef(observed, predicted)[0, 1]
    so, sp = observed.std(), predicted.std()
    ccc = 2 * r * so * sp / (so ** 2 + sp ** 2 + (observed.mean() - predicted.mean()) ** 2)
    assert s.ccc == pytest.approx(ccc, rel=1e-12)
    assert scores(observed, observed).ccc == pytest.approx(1.0)
    shifted = scores(observed, observed + 0.5)  # perfectly correlated, off the 1:1 line
    assert shifted.ccc < 0.7 and shifted.bias == pytest.approx(0.5)


def test_conformal_half_width_uses_the_finite_sample_rank():
    residuals = np.arange(1, 20)  # 19 residuals: ceil(20 * 0.9) = 18th smallest
    assert conformal_half_width(residuals, 0.9) == 18
    assert conformal_half_width(-residuals, 0.9) == 18
    assert conformal_half_width(np.arange(1, 9), 0.9) == float("inf")  # 8 < 9 needed


def test_cross_conformal_coverage_is_near_nominal_on_exchangeable_residuals():
    rng = np.random.default_rng(7)
    residuals = rng.standard_t(4, 2000)
    folds = rng.integers(0, 10, 2000)
    per_fold = coverage_per_fold(residuals, folds, 0.9)
    assert set(per_fold) == set(range(10))
    pooled = pooled_coverage(per_fold)
    assert 0.88 < pooled < 0.92
    for share, width, n in per_fold.values():
        assert 0.8 < share < 1 and width > 0 and n > 150
