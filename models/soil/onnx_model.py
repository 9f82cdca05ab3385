"""The soil model as one ONNX file: features in; values, interval bounds, extrapolation flag
out; the card inside.

Graph: input ``features`` (N, F) float32 -> ``values`` (N, K), ``lower`` = values - half width,
``upper`` = values + half width (the split-conformal half widths of the card, one per target),
``interval`` (N, 2K: lower, upper of each target in turn) and ``extrapolation`` (N, 1: 1 where a
feature is outside the training range).
Tree models come one per target (skl2onnx / onnxmltools) and are stacked here into one graph.
The card (JSON) is stored in the metadata property ``rsai_card`` and written beside the model as
``<model>.json``. Files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError

CARD_KEY = "rsai_card"
OUTPUTS = ("values", "lower", "upper")


def stack_target_models(models: list):
    """One ONNX model from single-target tree-ensemble models (skl2onnx / onnxmltools, one
    TreeEnsembleRegressor node each, reading ``features``): a single TreeEnsembleRegressor with
    one target per model, output ``values`` (N, K). One node instead of K lets onnxruntime
    schedule all trees together."""
    import onnx
    from onnx import helper

    nodes = [_only_tree_node(model) for model in models]
    merged: dict[str, list] = {}
    base_values = []
    offset = 0
    for k, node in enumerate(nodes):
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("post_transform", b"NONE") not in (b"NONE", "NONE"):
            raise ValueError(f"tree model {k} has a post transform; cannot stack it")
        trees = attributes["nodes_treeids"]
        for name, values in attributes.items():
            if name.startswith(("nodes_", "target_")):
                values = list(values)
                if name in ("nodes_treeids", "target_treeids"):
                    values = [t + offset for t in values]
                elif name == "target_ids":
                    values = [k] * len(values)
                merged.setdefault(name, []).extend(values)
        base_values.append((attributes.get("base_values") or [0.0])[0])
        offset += max(trees) + 1
    tree_node = helper.make_node(
        "TreeEnsembleRegressor", ["features"], ["values"], domain="ai.onnx.ml",
        name="soil_trees", n_targets=len(models), post_transform="NONE",
        aggregate_function="SUM", base_values=base_values, **merged)
    n_features = models[0].graph.input[0].type.tensor_type.shape.dim[1].dim_value
    graph = helper.make_graph(
        [tree_node], "soil_trees",
        [helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info("values", onnx.TensorProto.FLOAT, [None, len(models)])])
    stacked = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("ai.onnx.ml", 1)])
    stacked.ir_version = max(m.ir_version for m in models)
    return stacked


def _only_tree_node(model):
    trees = [n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor"]
    if len(trees) != 1 or len(model.graph.node) != 1:
        raise ValueError("expected a model made of one TreeEnsembleRegressor node, got "
                         f"{[n.op_type for n in model.graph.node]}")
    return trees[0]


def add_outputs(model, half_widths, feature_min, feature_max):
    """Append the interval and extrapolation outputs to a ``features`` -> ``values`` model:
    ``lower``/``upper`` = values -/+ half width (one per target), ``interval`` (N, 2K) = lower
    and upper side by side per target (a raster's bands), ``extrapolation`` (N, 1) = 1 where a
    feature lies outside the training minimum..maximum, else 0."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    k = len(half_widths)
    constants = {
        "interval_half_width": np.asarray(half_widths, np.float32).reshape(1, k),
        "feature_min": np.asarray(feature_min, np.float32).reshape(1, -1),
        "feature_max": np.asarray(feature_max, np.float32).reshape(1, -1),
        "last_axis": np.array([2], np.int64),
        "interval_shape": np.array([0, 2 * k], np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in constants.items())
    node = helper.make_node
    graph.node.extend([
        node("Sub", ["values", "interval_half_width"], ["lower"], name="lower"),
        node("Add", ["values", "interval_half_width"], ["upper"], name="upper"),
        node("Unsqueeze", ["lower", "last_axis"], ["lower_3d"], name="lower_3d"),
        node("Unsqueeze", ["upper", "last_axis"], ["upper_3d"], name="upper_3d"),
        node("Concat", ["lower_3d", "upper_3d"], ["bounds_3d"], axis=2, name="bounds"),
        node("Reshape", ["bounds_3d", "interval_shape"], ["interval"], name="interval"),
        node("Less", ["features", "feature_min"], ["below"], name="below"),
        node("Greater", ["features", "feature_max"], ["above"], name="above"),
        node("Or", ["below", "above"], ["outside"], name="outside"),
        node("Cast", ["outside"], ["outside_float"], to=onnx.TensorProto.FLOAT, name="as_float"),
        node("ReduceMax", ["outside_float"], ["extrapolation"], axes=[1], keepdims=1,
             name="extrapolation")])
    for name, width in (("lower", k), ("upper", k), ("interval", 2 * k), ("extrapolation", 1)):
        graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                          [None, width]))
    return model


def model_files(model, card: dict, path: str | os.PathLike) -> dict:
    """{path: ONNX bytes with the card in the metadata, path.json: the card} to write."""
    from onnx import helper

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise UserError(f"the model file {path} must end in .onnx: choose a .onnx output")
    del model.metadata_props[:]
    helper.set_model_props(model, {CARD_KEY: json.dumps(card)})
    beside = dict(card, local_weights=path.name)
    return {path: model.SerializeToString(),
            path.with_suffix(".json"): json.dumps(beside, indent=1)}


def exported_model(learner, half_widths, check_features: np.ndarray, tolerance: float = 1e-5):
    """The fitted learner as ONNX with the interval and extrapolation outputs (the training
    range is that of ``check_features``, the training features). Refuses a model whose ONNX
    predictions differ from the learner's on them by more than ``tolerance`` (relative;
    absolute below 1)."""
    model = add_outputs(learner.to_onnx(check_features.shape[1]), half_widths,
                        check_features.min(0), check_features.max(0))
    exported = OnnxPredictor(model).predict(check_features)["values"]
    native = learner.predict(check_features)
    worst = float(np.max(np.abs(exported - native) / np.maximum(1.0, np.abs(native))))
    if not worst <= tolerance:
        raise RuntimeError(f"the ONNX export disagrees with the trained model by {worst:.3g} "
                           f"(relative): please report this with the training data")
    return model


class OnnxPredictor:
    """onnxruntime session of a soil model: ``predict(features) -> {values, lower, upper}``."""

    def __init__(self, model, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, features: np.ndarray) -> dict:
        arrays = self.session.run(None, {"features": np.ascontiguousarray(features, np.float32)})
        return dict(zip(self.outputs, arrays))
