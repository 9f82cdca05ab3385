"""AutoICE scores of rasters, strip by strip: equal to scikit-learn on the same pixels (masked
left out), charts on another grid warped by nearest neighbour, a model's own classes, tables."""
import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, r2_score

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.runtime import raster
from rsai_toolbox.models.seaice import scoring

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import write_geotiff  # noqa: E402

GT = (500000.0, 40.0, 0.0, 8000000.0, 0.0, -40.0)


def codes(rng, k, shape=(61, 47), masked=0.1):
    values = rng.integers(0, k, shape).astype(np.uint8)
    values[rng.random(shape) < masked] = 255
    return values


def noisy(rng, truth, k, flip=0.3):
    out = truth.copy()
    change = rng.random(truth.shape) < flip
    out[change] = rng.integers(0, k, change.sum())
    out[truth == 255] = rng.integers(0, k, (truth == 255).sum())
    out[rng.random(truth.shape) < 0.05] = 255
    return out


@pytest.fixture
def small_strips(monkeypatch):
    monkeypatch.setattr(scoring, "STRIP_ROWS", 7)  # many strips on small rasters


def test_scores_equal_scikit_learn_without_masked_pixels(tmp_path, small_strips):
    rng = np.random.default_rng(0)
    pairs, expected = {}, {}
    for name, k in (("SOD", 6), ("SIC", 11), ("FLOE", 7)):
        truth = codes(rng, k)
        predicted = noisy(rng, truth, k)
        keep = (truth != 255) & (predicted != 255)
        expected[name] = (r2_score(truth[keep], predicted[keep]) if name == "SIC" else
                          f1_score(truth[keep], predicted[keep], average="weighted"))
        pairs[name] = (str(write_geotiff(tmp_path / f"p_{name}.tif", predicted, GT, nodata=255)),
                       str(write_geotiff(tmp_path / f"c_{name}.tif", truth, GT)))
    scores = scoring.score_rasters(pairs)
    for name in pairs:
        assert scores.charts[name].score == pytest.approx(expected[name], abs=1e-12)
    assert scores.combined == pytest.approx(
        (2 * expected["SIC"] + 2 * expected["SOD"] + expected["FLOE"]) / 5, abs=1e-12)

    csv_path = scoring.write_table(scores, str(tmp_path / "scores.csv"))
    rows = list(csv.DictReader(open(csv_path)))
    assert float(next(r for r in rows if r["metric"] == "combined")["value"]) == \
        pytest.approx(scores.combined, abs=1e-6)
    html = scoring.write_table(scores, str(tmp_path / "scores.html")).read_text()
    assert "thick first-year ice" in html and "Confusion matrix" in html


def test_chart_on_another_grid_and_float_nodata_are_handled(tmp_path, small_strips):
    rng = np.random.default_rng(1)
    coarse = codes(rng, 6, (31, 24), masked=0.0)
    chart = write_geotiff(tmp_path / "chart.tif", coarse.astype(np.float32),
                          (GT[0], 80.0, 0.0, GT[3], 0.0, -80.0), nodata=-1.0)
    truth = coarse.repeat(2, 0).repeat(2, 1)[:61, :47]
    predicted = noisy(rng, truth, 6)
    prediction = write_geotiff(tmp_path / "p.tif", predicted, GT, nodata=255)
    warnings = []
    from rsai_toolbox.models.callbacks import Callbacks
    scores = scoring.score_rasters({"SOD": (str(prediction), str(chart))},
                                   Callbacks(warn=warnings.append))
    keep = predicted != 255
    assert scores.charts["SOD"].score == pytest.approx(
        f1_score(truth[keep], predicted[keep], average="weighted"), abs=1e-12)
    assert any("nearest-neighbour warp" in w for w in warnings)
    assert scores.combined is None  # SIC and FLOE not given


def test_the_models_own_classes_name_the_codes(tmp_path):
    rng = np.random.default_rng(2)
    truth = codes(rng, 4)
    predicted = noisy(rng, truth, 4)
    nersc = [(0, "ice free", "#0064FF"), (1, "young ice", "#AA28F0"),
             (2, "first-year ice", "#9BD200"), (3, "old ice", "#B46432")]
    out = raster.create_like(raster.raster_info(raster.open_raster(
        write_geotiff(tmp_path / "grid.tif", truth, GT))), tmp_path / "p.tif", 1,
        raster.gdal.GDT_Byte, 255, ["ice_type"], nersc)
    with raster.committed_outputs([out]):
        out.write(predicted, 0, 0)
    scores = scoring.score_rasters({"SOD": (str(tmp_path / "p.tif"), str(tmp_path / "grid.tif"))})
    assert [c.name for c in scores.charts["SOD"].classes] == [n for _, n, _ in nersc]
    assert scores.charts["SOD"].confusion.shape == (4, 4)
    html = scoring.write_table(scores, str(tmp_path / "s.html")).read_text()
    assert "old ice" in html and "thick first-year ice" not in html


def test_bad_rasters_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    truth = codes(rng, 6)
    chart = str(write_geotiff(tmp_path / "c.tif", truth, GT))
    two = str(write_geotiff(tmp_path / "two.tif", np.stack([truth, truth]), GT))
    fractions = str(write_geotiff(tmp_path / "f.tif",
                                  rng.random(truth.shape).astype(np.float32), GT))
    beyond = str(write_geotiff(tmp_path / "b.tif", np.full(truth.shape, 9, np.uint8), GT))
    for prediction, message in ((two, "has 2 bands; give a single-band raster"),
                                (fractions, "holds fractional values"),
                                (beyond, "holds the value 9, which is not a SOD code")):
        with pytest.raises(UserError, match=message):
            scoring.score_rasters({"SOD": (prediction, chart)})
    with pytest.raises(UserError, match="give at least one prediction"):
        scoring.score_rasters({})
