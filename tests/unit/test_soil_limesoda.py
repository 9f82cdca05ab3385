"""Acceptance on LimeSoDa (issue 13): the trainer's 10-fold CV R2 on each dataset's given folds
is at most 0.02 below a 500-tree Random Forest's with the same features, and 90 % intervals
cover 85-95 % of the held-out samples on datasets with more than 100 samples.

"Same features" = every predictor column of the LimeSoDa table (the Sentinel-2 bands plus the
covariates Altitude, Slope, NDVI, GNDVI and, where present, ERa, G_Total_Counts, pH_ISE): with
the bands alone a Random Forest stays far below the issue's figures (BB.250 pH 0.52, not 0.65),
with all columns it reproduces them to 0.005. The slowest part of the suite: 7 datasets x 2
targets x 11 forests of 500 trees, about 3 CPU minutes on one core (marked slow; one test per
dataset).
"""

import pytest

from rsai_toolbox.models.soil.regressors import LearnerOptions
from rsai_toolbox.models.soil.train import CrossValidation, train

from helpers_soil import BAR, limesoda_table


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BAR))
def test_random_forest_reaches_the_bar_and_intervals_cover(shared_data, name):
    table = limesoda_table(shared_data, name)
    assert table.feature_set.indices == () and table.skipped == {"a feature is missing (NaN)": 0}
    result = train(table, "random_forest", CrossValidation("given"), coverage=0.9,
                   options=LearnerOptions(n_jobs=1))
    assert result.cv_description == "10 given folds (field 'fold')"
    ph, soc = result.targets
    bar_ph, bar_soc = BAR[name]
    print(f"{name}: R2 pH {ph.scores.r2:.3f} (bar {bar_ph}), SOC {soc.scores.r2:.3f} "
          f"(bar {bar_soc}); coverage {ph.coverage:.3f} / {soc.coverage:.3f}")
    assert ph.scores.r2 >= bar_ph - 0.02
    assert soc.scores.r2 >= bar_soc - 0.02
    if len(table.features) > 100:
        assert 0.85 <= ph.coverage <= 0.95
        assert 0.85 <= soc.coverage <= 0.95
