"""AutoICE metrics equal scikit-learn's on the same pixels; the report tables hold them."""
import csv

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, r2_score

from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.seaice import metrics, report
from rsai_toolbox.models.seaice.scheme import CHARTS, FLOE, SIC, SOD


def chart_and_prediction(chart, shape=(70, 90), seed=0, masked_fraction=0.15):
    """A chart, a prediction that is right about 60 % of the time, and 255 in both."""
    rng = np.random.default_rng(seed)
    k = len(CHARTS[chart])
    truth = rng.choice(k, shape, p=np.linspace(1, 2, k) / np.linspace(1, 2, k).sum())
    prediction = np.where(rng.random(shape) < 0.6, truth, rng.integers(0, k, shape))
    truth = np.where(rng.random(shape) < masked_fraction, 255, truth).astype(np.uint8)
    prediction = np.where(rng.random(shape) < masked_fraction / 2, 255, prediction).astype(np.uint8)
    return truth, prediction


def kept(truth, prediction):
    keep = (truth != 255) & (prediction != 255)
    return truth[keep].astype(int), prediction[keep].astype(int)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_scikit_learn_with_masked_pixels_left_out(seed):
    truths, predictions = {}, {}
    for i, chart in enumerate(CHARTS):
        truths[chart], predictions[chart] = chart_and_prediction(chart, seed=seed * 10 + i)
    scores = metrics.autoice_scores(truths, predictions)
    t, p = kept(truths["SIC"], predictions["SIC"])
    assert scores.charts["SIC"].score == pytest.approx(r2_score(t, p), abs=1e-12)
    for chart in ("SOD", "FLOE"):
        t, p = kept(truths[chart], predictions[chart])
        s = scores.charts[chart]
        assert s.score == pytest.approx(f1_score(t, p, average="weighted"), abs=1e-12)
        labels = np.arange(len(CHARTS[chart]))
        assert np.allclose(s.f1, f1_score(t, p, average=None, labels=labels))
        assert (s.confusion == confusion_matrix(t, p, labels=labels)).all()
        assert s.pixels == t.size and s.masked == truths[chart].size - t.size
    expected = (2 * r2_score(*kept(truths["SIC"], predictions["SIC"]))
                + 2 * f1_score(*kept(truths["SOD"], predictions["SOD"]), average="weighted")
                + f1_score(*kept(truths["FLOE"], predictions["FLOE"]), average="weighted")) / 5
    assert scores.combined == pytest.approx(expected, abs=1e-12)
    assert scores.summary()["COMBINED"] == pytest.approx(100 * expected)


def test_block_by_block_equals_all_at_once():
    truth, prediction = chart_and_prediction("SOD", (64, 64), seed=5)
    whole = metrics.autoice_scores({"SOD": truth}, {"SOD": prediction}).charts["SOD"]
    acc = metrics.ConfusionAccumulator("SOD")
    for r in range(0, 64, 16):
        for c in range(0, 64, 32):
            acc.update(truth[r:r + 16, c:c + 32], prediction[r:r + 16, c:c + 32])
    blocks = acc.scores()
    assert blocks.score == whole.score and (blocks.confusion == whole.confusion).all()
    assert blocks.masked == whole.masked


def test_classes_absent_from_chart_and_prediction_and_sic_edge_cases():
    # SOD with only two classes present: weighted F1 over the classes present, as scikit-learn
    truth = np.array([0, 0, 2, 2, 2, 255], np.uint8)
    pred = np.array([0, 2, 2, 2, 0, 0], np.uint8)
    s = metrics.autoice_scores({"SOD": truth}, {"SOD": pred}).charts["SOD"]
    assert s.score == pytest.approx(f1_score([0, 0, 2, 2, 2], [0, 2, 2, 2, 0], average="weighted"))
    assert np.isnan(s.f1[5]) and s.support[5] == 0
    # a constant chart: 1.0 when predicted exactly, else 0.0 (scikit-learn's convention)
    const = np.full(10, 7, np.uint8)
    assert metrics.autoice_scores({"SIC": const}, {"SIC": const}).charts["SIC"].score == 1.0
    off = const.copy()
    off[0] = 6
    assert metrics.autoice_scores({"SIC": const}, {"SIC": off}).charts["SIC"].score == 0.0
    assert r2_score(const, off) == 0.0
    # no FLOE: no combined score
    assert metrics.autoice_scores({"SOD": truth}, {"SOD": pred}).combined is None


def test_bad_codes_sizes_and_empty_overlap_are_user_errors():
    with pytest.raises(UserError, match="value 6, which is not a SOD code"):
        metrics.autoice_scores({"SOD": np.array([0, 6])}, {"SOD": np.array([0, 1])})
    with pytest.raises(UserError, match="prediction holds the value 11"):
        metrics.autoice_scores({"SIC": np.array([0, 10])}, {"SIC": np.array([11, 1])})
    with pytest.raises(UserError, match="differ in size"):
        metrics.autoice_scores({"SOD": np.zeros(3)}, {"SOD": np.zeros(4)})
    with pytest.raises(UserError, match="nothing to score"):
        metrics.autoice_scores({"SOD": np.full(4, 255)}, {"SOD": np.zeros(4)})
    with pytest.raises(UserError, match="at least one chart"):
        metrics.autoice_scores({"SOD": np.zeros(4)}, {"SIC": np.zeros(4)})


def test_scheme_classes():
    assert [c.name for c in SOD] == ["open water", "new ice", "young ice", "thin first-year ice",
                                     "thick first-year ice", "old ice"]
    assert len(SIC) == 11 and SIC[10].name == "100%" and len(FLOE) == 7
    for chart in CHARTS.values():
        assert [c.value for c in chart] == list(range(len(chart)))
        assert all(len(c.color) == 7 and c.color.startswith("#") for c in chart)


def test_csv_and_html_reports(tmp_path):
    truths, predictions = {}, {}
    for i, chart in enumerate(CHARTS):
        truths[chart], predictions[chart] = chart_and_prediction(chart, seed=i)
    scores = metrics.autoice_scores(truths, predictions)
    csv_path = report.write_csv(scores, tmp_path / "out" / "scores.csv")
    html_path = report.write_html(scores, tmp_path / "out" / "scores.html", notes=["scene A"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scores.csv", "scores.html"]
    rows = list(csv.DictReader(csv_path.open()))
    by_key = {(r["chart"], r["metric"], r["class_value"], r["predicted_value"]): r["value"]
              for r in rows}
    assert float(by_key[("SOD", "weighted F1", "", "")]) == pytest.approx(
        scores.charts["SOD"].score, abs=1e-6)
    assert float(by_key[("ALL", "combined", "", "")]) == pytest.approx(scores.combined, abs=1e-6)
    assert int(by_key[("FLOE", "confusion", "3", "1")]) == scores.charts["FLOE"].confusion[3, 1]
    assert int(by_key[("SIC", "support", "10", "")]) == scores.charts["SIC"].support[10]
    page = html_path.read_text()
    assert "thick first-year ice" in page and "icebergs" in page and "scene A" in page
    assert f"{100 * scores.combined:.2f}" in page
