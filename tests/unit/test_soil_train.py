"""Soil training on real LimeSoDa samples: ONNX exports that reproduce the learners, the card,
bad inputs, and the report."""

import csv
import json
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from rsai_toolbox.models.callbacks import Callbacks
from rsai_toolbox.models.cards import card_from_dict
from rsai_toolbox.models.errors import UserError
from rsai_toolbox.models.files import write_files
from rsai_toolbox.models.soil.onnx_model import exported_model, model_files
from rsai_toolbox.models.soil.regressors import ALGORITHMS, LearnerOptions, make_learner
from rsai_toolbox.models.soil.report import report_files
from rsai_toolbox.models.soil.train import CrossValidation, train

from helpers_soil import limesoda_table


@pytest.fixture(scope="module")
def bb250(shared_data):
    return limesoda_table(shared_data, "BB_250", indices="all")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_exported_onnx_reproduces_the_learner_on_the_training_features(tmp_path, bb250,
                                                                       algorithm):
    x, y = bb250.features, bb250.targets
    learner = make_learner(algorithm, LearnerOptions()).fit(x, y)
    half = [0.25, 0.125]
    card = {"id": "t", "task": "regression", "head": {"type": "pixel_table"}}
    write_files(model_files(exported_model(learner, half, x), card, tmp_path / "m.onnx"))

    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features"]
    assert [o.name for o in session.get_outputs()] == ["values", "lower", "upper", "interval",
                                                       "extrapolation"]
    values, lower, upper, interval, outside = session.run(None, {"features": x.astype(np.float32)})
    native = learner.predict(x)
    assert values.shape == (len(x), 2)
    np.testing.assert_allclose(values, native, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(values - lower, np.broadcast_to(half, values.shape), atol=1e-6)
    np.testing.assert_allclose(upper - values, np.broadcast_to(half, values.shape), atol=1e-6)
    np.testing.assert_array_equal(interval, np.stack([lower, upper], 2).reshape(len(x), 4))
    assert outside.shape == (len(x), 1) and not outside.any()  # the training data is inside
    shifted = x.astype(np.float32).copy()
    shifted[3, 5] = x[:, 5].max() * 1.5
    shifted[8, 0] = x[:, 0].min() - 1
    flags = session.run(["extrapolation"], {"features": shifted})[0][:, 0]
    assert flags.tolist() == [1.0 if i in (3, 8) else 0.0 for i in range(len(x))]
    model = onnx.load(str(tmp_path / "m.onnx"))
    if algorithm != "neural_network":  # both targets' trees in one node
        assert [n.op_type for n in model.graph.node][:3] == ["TreeEnsembleRegressor", "Sub",
                                                             "Add"]
    metadata = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert metadata["rsai_card"] == card
    beside = json.loads((tmp_path / "m.json").read_text())
    assert beside["local_weights"] == "m.onnx" and beside["id"] == "t"
    assert not list(tmp_path.glob("*partial*"))


def test_a_trained_model_card_is_a_valid_v2_card_with_the_soil_facts(bb250):
    result = train(bb250, "xgboost", CrossValidation("given"), 0.9, LearnerOptions(trees=100))
    data = result.card("bb250")
    card = card_from_dict(data, "test")
    assert card.task == "regression" and card.head.type == "pixel_table" and card.head.halo == 0
    assert [i.name for i in card.inputs] == ["s2", "covariates"]
    assert [o.name for o in card.outputs] == ["values", "interval", "extrapolation"]
    assert [t.band_name for t in card.outputs[0].targets] == ["pH_target (pH)",
                                                              "SOC_target (%)"]
    assert [t.band_name for t in card.outputs[1].targets] == [
        "pH_target lower (pH)", "pH_target upper (pH)", "SOC_target lower (%)",
        "SOC_target upper (%)"]
    method = card.method
    assert method["name"] == "soil"
    assert method["features"]["names"] == list(bb250.feature_set.names)
    assert "split-conformal" in method["intervals"]["method"]
    assert method["intervals"]["coverage"] == 0.9
    training = method["training"]
    for t in result.targets:
        assert method["intervals"]["half_widths"][t.name] == pytest.approx(t.half_width)
        assert training["scores"][t.name]["r2"] == pytest.approx(t.scores.r2)
    assert training["cross_validation"] == "10 given folds (field 'fold')"
    assert training["crs"] == "EPSG:25833" and training["samples"] == 250
    x0, y0, x1, y1 = training["extent"]
    assert x0 < x1 and y0 < y1 and 460000 < x0 < 470000
    assert len(method["extrapolation"]["feature_min"]) == len(bb250.feature_set.names)
    json.dumps(data)  # serialisable


def test_report_has_the_cv_scores_plots_and_fold_coverage(tmp_path, bb250):
    result = train(bb250, "random_forest", CrossValidation("given"), 0.9,
                   LearnerOptions(trees=50))
    files = report_files(result, tmp_path / "r.html", tmp_path / "r.csv", notes=["a note"])
    write_files(files)
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 4  # 2 scatter plots, 2 importance charts
    assert "a note" in page and "split-conformal" in page and "10 given folds" in page
    assert "spectral indices NDVI, NDWI, NBR, NDMI, BSI, NDTI" in page
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    by = {(r["section"], r["target"], r["name"]): r["value"] for r in rows}
    for t in result.targets:
        assert float(by[("score", t.name, "r2")]) == pytest.approx(t.scores.r2, rel=1e-5)
        assert float(by[("score", t.name, "ccc")]) == pytest.approx(t.scores.ccc, rel=1e-5)
        assert float(by[("interval", t.name, "held_out_coverage")]) == pytest.approx(t.coverage)
        folds = [r for r in rows if r["section"] == "fold_coverage" and r["target"] == t.name]
        assert len(folds) == 10
        importance = [float(r["value"]) for r in rows
                      if r["section"] == "importance" and r["target"] == t.name]
        assert len(importance) == len(bb250.feature_set.names)
        assert sum(importance) == pytest.approx(1.0)
    # held-out predictions: not the training fit
    fitted = result.learner.predict(bb250.features)
    assert not np.allclose(result.cv_predictions, fitted)


def _subset(table, rows, **changes):
    from dataclasses import replace
    fields = {"features": table.features[rows], "targets": table.targets[rows],
              "xy": table.xy[rows], "ids": table.ids[rows],
              "folds": None if table.folds is None else table.folds[rows]}
    fields.update(changes)
    return replace(table, **fields)


def test_bad_tables_get_clear_errors(bb250):
    few = _subset(bb250, np.arange(20), folds=None)
    with pytest.raises(UserError, match="20 samples are fewer than the 23 features"):
        train(few, "random_forest", CrossValidation("random", folds=5))
    constant = bb250.targets.copy()
    constant[:, 1] = 1.5
    with pytest.raises(UserError, match="'SOC_target' has the same value \\(1.5\\) at every"):
        train(_subset(bb250, slice(None), targets=constant))
    empty = bb250.targets.copy()
    empty[:, 0] = np.nan
    with pytest.raises(UserError, match="'pH_target' has no value"):
        train(_subset(bb250, slice(None), targets=empty))
    with pytest.raises(UserError, match="coverage must be between 0.5 and 1"):
        train(bb250, coverage=90)
    with pytest.raises(UserError, match="fewer than the 30 CV folds"):
        train(_subset(bb250, np.arange(25), folds=None), cv=CrossValidation("random", folds=30))


def test_negative_values_in_a_non_negative_unit_are_warned_and_missing_values_tolerated(bb250):
    targets = bb250.targets.copy()
    targets[:3, 1] = -0.5
    targets[10:15, 0] = np.nan
    messages = []
    result = train(_subset(bb250, slice(None), targets=targets, folds=None), "xgboost",
                   CrossValidation("spatial", block_size=150, folds=5),
                   options=LearnerOptions(trees=50), callbacks=Callbacks(warn=messages.append))
    assert any("SOC_target: 3 negative values although the unit '%'" in m for m in messages)
    assert any("pH_target: 5 samples have no value" in m for m in messages)
    assert result.targets[0].scores.n == 245 and result.targets[1].scores.n == 250
    assert result.cv_description == "spatial blocks of 150 m, 5 folds"
    assert math.isfinite(result.targets[0].half_width)
