"""The three learners of the soil trainer, behind one small interface, and their ONNX export.

Every learner maps features (n, F) to targets (n, K); a target value may be missing (NaN) for
some samples, which then do not train that target. Trees (Random Forest, XGBoost) are one model
per target; the fully connected network predicts all targets at once (masked loss). Each
exports an ONNX model with the input ``features`` (N, F) float32 and the output ``values``
(N, K) float32 (models/soil/onnx_model.py adds the interval outputs and the card).

Hyper-parameters are fixed, sensible defaults for tens to hundreds of samples; the random forest
is scikit-learn's default regressor with 500 trees (the LimeSoDa benchmark's baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MANY_SAMPLES = 10_000
ALGORITHMS = ("random_forest", "xgboost", "neural_network")
ALGORITHM_TITLES = {"random_forest": "Random Forest (scikit-learn)",
                    "xgboost": "XGBoost (gradient-boosted trees)",
                    "neural_network": "Fully connected network (PyTorch)"}


@dataclass(frozen=True)
class LearnerOptions:
    seed: int = 0
    n_jobs: int = 1
    trees: int = 500  # random forest and XGBoost
    epochs: int = 150  # network: full-batch AdamW steps
    hidden: tuple[int, ...] = (64, 32)


def make_learner(algorithm: str, options: LearnerOptions = LearnerOptions()):
    if algorithm == "random_forest":
        return RandomForest(options)
    if algorithm == "xgboost":
        return XGBoost(options)
    if algorithm == "neural_network":
        return NeuralNetwork(options)
    raise ValueError(f"unknown algorithm {algorithm!r}; one of {ALGORITHMS}")


class _PerTargetTrees:
    """One tree ensemble per target, each fitted on the samples where that target is known."""

    importance_kind = ""

    def __init__(self, options: LearnerOptions):
        self.options = options
        self.models = []

    def _new(self, n_samples: int):
        raise NotImplementedError

    def fit(self, x: np.ndarray, y: np.ndarray) -> "_PerTargetTrees":
        self.models = []
        for k in range(y.shape[1]):
            known = np.isfinite(y[:, k])
            self.models.append(self._new(int(known.sum())).fit(x[known], y[known, k]))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([m.predict(x) for m in self.models]).astype(np.float64)

    def importances(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(K, F), each row summing to 1."""
        rows = [np.asarray(m.feature_importances_, np.float64) for m in self.models]
        return np.array([r / r.sum() if r.sum() > 0 else r for r in rows])

    def to_onnx(self, n_features: int):
        from .onnx_model import stack_target_models
        return stack_target_models([self._one_to_onnx(m, n_features) for m in self.models])


class RandomForest(_PerTargetTrees):
    importance_kind = "impurity decrease (scikit-learn feature_importances_)"

    def _new(self, n_samples: int):
        from sklearn.ensemble import RandomForestRegressor
        return RandomForestRegressor(n_estimators=self.options.trees,
                                     random_state=self.options.seed, n_jobs=self.options.n_jobs)

    @staticmethod
    def _one_to_onnx(model, n_features):
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
        return convert_sklearn(
            model, initial_types=[("features", FloatTensorType([None, n_features]))],
            target_opset={"": 17, "ai.onnx.ml": 3})


class XGBoost(_PerTargetTrees):
    importance_kind = "gain (XGBoost feature_importances_)"

    def _new(self, n_samples: int):
        from xgboost import XGBRegressor
        # threads pay off only on large tables; on a few hundred rows they cost (a busy
        # 2-core machine ran 5x slower with 2)
        threads = self.options.n_jobs if n_samples > MANY_SAMPLES else 1
        return XGBRegressor(n_estimators=self.options.trees, learning_rate=0.03, max_depth=4,
                            subsample=0.8, colsample_bytree=0.8, min_child_weight=2,
                            tree_method="hist", random_state=self.options.seed,
                            n_jobs=threads)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "XGBoost":
        super().fit(x, y)
        for model in self.models:  # predicting many pixel rows does pay off
            model.set_params(n_jobs=self.options.n_jobs)
        return self

    @staticmethod
    def _one_to_onnx(model, n_features):
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
        return onnxmltools.convert_xgboost(
            model, initial_types=[("features", FloatTensorType([None, n_features]))],
            target_opset=15)


class NeuralNetwork:
    """A small fully connected network (models/soil/network.py); inputs and targets are
    standardised inside the module, so the exported ONNX takes raw features and returns targets
    in their units."""

    importance_kind = "permutation (increase of the standardised training MSE)"

    def __init__(self, options: LearnerOptions):
        self.options = options
        self.module = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> "NeuralNetwork":
        from .network import train_network
        self.module = train_network(x, y, hidden=self.options.hidden,
                                    epochs=self.options.epochs, seed=self.options.seed)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        from .network import predict
        return predict(self.module, x)

    def importances(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(K, F): MSE increase when a feature's column is shuffled, rows scaled to sum 1."""
        rng = np.random.default_rng(self.options.seed)
        known = np.isfinite(y)
        scale = np.array([y[known[:, k], k].std() or 1.0 for k in range(y.shape[1])])

        def mse(pred):
            err = np.where(known, (pred - np.where(known, y, 0.0)) / scale, 0.0)
            return (err ** 2).sum(0) / known.sum(0)

        base = mse(self.predict(x))
        rows = np.empty((y.shape[1], x.shape[1]))
        for j in range(x.shape[1]):
            shuffled = x.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            rows[:, j] = np.maximum(mse(self.predict(shuffled)) - base, 0.0)
        sums = rows.sum(1, keepdims=True)
        return np.divide(rows, sums, out=np.zeros_like(rows), where=sums > 0)

    def to_onnx(self, n_features: int):
        from .network import to_onnx
        return to_onnx(self.module, n_features)
