"""Read a Keras HDF5 model file as data: the layer list and its weight arrays, nothing executed.

A Keras ``model.save("x.hdf5")`` file holds the architecture as JSON in the ``model_config``
attribute and every layer's weights in ``model_weights/<layer>/<weight name>``. We read both with
GDAL's multidimensional HDF5 reader (the HDF5 library QGIS already has: a second one, as an h5py
wheel brings, does not load cleanly beside it) and turn each layer into a small framework-free
``Layer`` (kind + parameters + arrays), so
the network can be rebuilt in torch and in NumPy from the same description. TensorFlow is never
imported, and layers that could carry code (``Lambda``, custom classes) are refused, not run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError

ACTIVATIONS = ("linear", "relu", "softmax", "sigmoid", "tanh")


@dataclass(frozen=True)
class Layer:
    """One layer of a sequential network, channels-last as Keras stores it.

    ``kind`` is one of batchnorm, conv, maxpool, flatten, dropout, dense; ``params`` holds only
    what changes the computation (filters, kernel, padding, units, activation, epsilon ...);
    ``weights`` maps Keras's short names (kernel, bias, gamma, beta, moving_mean,
    moving_variance) to arrays and is empty for a layer description without weights.
    """

    kind: str
    name: str
    params: dict
    weights: dict = field(default_factory=dict, compare=False)

    def same_architecture(self, other: "Layer") -> bool:
        return self.kind == other.kind and self.params == other.params


@dataclass(frozen=True)
class KerasModel:
    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int]  # (rows, cols, channels)
    keras_version: str = ""
    backend: str = ""

    @property
    def output_size(self) -> int:
        return int(self.layers[-1].params["units"])


def read_keras_hdf5(path: str | Path) -> KerasModel:
    """The architecture and weights of a Keras Sequential model saved as HDF5."""
    from osgeo import gdal

    path = Path(path)
    if not path.is_file():
        raise UserError(f"Keras weights file {path} does not exist.")
    try:
        dataset = gdal.OpenEx(str(path), gdal.OF_MULTIDIM_RASTER | gdal.OF_READONLY,
                              allowed_drivers=["HDF5"])
        reason = "GDAL cannot read it"
    except RuntimeError as exc:
        dataset, reason = None, str(exc)
    if dataset is None:
        raise UserError(f"{path} is not an HDF5 file ({reason}); a Keras model saved with "
                        "model.save('model.hdf5') is expected.")
    root = dataset.GetRootGroup()
    config_text = _attribute(root, "model_config")
    if not config_text:
        raise UserError(f"{path} holds weights only (no model_config attribute): the network "
                        "cannot be rebuilt from it. Use the file saved with model.save(), which "
                        "stores the architecture too.")
    config = json.loads(config_text)
    weights_group = root.OpenGroup("model_weights") if "model_weights" in (
        root.GetGroupNames() or []) else root
    layers, input_shape = _parse_sequential(config, path)
    layers = tuple(Layer(layer.kind, layer.name, layer.params,
                         _layer_weights(weights_group, layer.name, path))
                   for layer in layers)
    model = KerasModel(layers, input_shape, _attribute(root, "keras_version"),
                       _attribute(root, "backend"))
    check_weight_shapes(model, str(path))
    return model


def _attribute(group, name: str):
    """A text (or list of texts) attribute of an HDF5 group; "" when it has none."""
    if name not in [a.GetName() for a in group.GetAttributes() or []]:
        return ""
    attribute = group.GetAttribute(name)
    if attribute.GetTotalElementsCount() == 0:  # e.g. the weight names of Flatten: none
        return []
    value = attribute.Read()
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _parse_sequential(config: dict, path: Path) -> tuple[list[Layer], tuple[int, int, int]]:
    if config.get("class_name") != "Sequential":
        raise UserError(f"{path}: only Keras Sequential models are supported, this one is a "
                        f"{config.get('class_name')!r}.")
    body = config["config"]
    entries = body["layers"] if isinstance(body, dict) else body  # Keras < 2.2 stored a list
    shape = body.get("build_input_shape") if isinstance(body, dict) else None
    layers = []
    for entry in entries:
        cls, cfg = entry["class_name"], entry["config"]
        shape = shape or cfg.get("batch_input_shape")
        if cls == "InputLayer":
            continue
        layers.append(_layer(cls, cfg, path))
    if not shape or len(shape) != 4 or any(s is None for s in shape[1:]):
        raise UserError(f"{path}: the model's input shape is unknown or not (rows, cols, "
                        f"channels): {shape}")
    return layers, (int(shape[1]), int(shape[2]), int(shape[3]))


def _layer(cls: str, cfg: dict, path: Path) -> Layer:
    """Keep the parameters that define the computation; refuse anything we cannot reproduce."""
    name = cfg["name"]
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise UserError(f"{path}: layer {name} is channels_first; only channels_last is supported")
    if cls == "BatchNormalization":
        axis = cfg.get("axis", -1)
        if axis not in (-1, 3, [-1], [3]):
            raise UserError(f"{path}: BatchNormalization {name} normalises axis {axis}; only "
                            "the channel axis is supported")
        return Layer("batchnorm", name, {"epsilon": float(cfg["epsilon"]),
                                         "center": bool(cfg.get("center", True)),
                                         "scale": bool(cfg.get("scale", True))})
    if cls == "Conv2D":
        if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
            raise UserError(f"{path}: dilated convolution {name} is not supported")
        if cfg["padding"] != "valid":
            raise UserError(f"{path}: convolution {name} has padding {cfg['padding']!r}; only "
                            "'valid' is supported")
        return Layer("conv", name, {"filters": int(cfg["filters"]),
                                    "kernel": tuple(int(k) for k in cfg["kernel_size"]),
                                    "strides": tuple(int(s) for s in cfg["strides"]),
                                    "activation": _activation(cfg, name, path),
                                    "bias": bool(cfg.get("use_bias", True))})
    if cls == "MaxPooling2D":
        if cfg["padding"] != "valid":
            raise UserError(f"{path}: max-pooling {name} with padding {cfg['padding']!r} is "
                            "not supported")
        return Layer("maxpool", name, {"pool": tuple(int(p) for p in cfg["pool_size"]),
                                       "strides": tuple(int(s) for s in (cfg.get("strides")
                                                                         or cfg["pool_size"]))})
    if cls == "Flatten":
        return Layer("flatten", name, {})
    if cls == "Dropout":  # the identity at inference
        return Layer("dropout", name, {})
    if cls == "Dense":
        return Layer("dense", name, {"units": int(cfg["units"]),
                                     "activation": _activation(cfg, name, path),
                                     "bias": bool(cfg.get("use_bias", True))})
    raise UserError(f"{path}: Keras layer {cls} ({name}) is not supported (supported: "
                    "BatchNormalization, Conv2D, MaxPooling2D, Flatten, Dropout, Dense); "
                    "layers that carry code, such as Lambda, are never run.")


def _activation(cfg: dict, name: str, path: Path) -> str:
    activation = cfg.get("activation", "linear")
    if activation not in ACTIVATIONS:
        raise UserError(f"{path}: layer {name} uses activation {activation!r}; supported: "
                        f"{', '.join(ACTIVATIONS)}")
    return activation


def _layer_weights(group, layer_name: str, path: Path) -> dict[str, np.ndarray]:
    """``{"kernel": array, "bias": array, ...}`` of one layer, by the names Keras recorded."""
    if layer_name not in (group.GetGroupNames() or []):
        raise UserError(f"{path}: no weights stored for layer {layer_name}")
    layer_group = group.OpenGroup(layer_name)
    names = _attribute(layer_group, "weight_names") or []
    weights = {}
    for full_name in [names] if isinstance(names, str) else names:
        *groups, array_name = full_name.split("/")
        holder = layer_group
        for part in groups:
            holder = holder.OpenGroup(part)
        short = array_name.split(":")[0]
        weights[short] = np.asarray(holder.OpenMDArray(array_name).ReadAsArray(), np.float32)
    return weights


def check_weight_shapes(model: KerasModel, origin: str) -> None:
    """Every layer holds exactly the arrays its configuration needs, with the right shapes."""
    rows, cols, channels = model.input_shape
    features = None  # set after Flatten
    for layer in model.layers:
        p, w = layer.params, layer.weights
        if layer.kind == "batchnorm":
            size = channels if features is None else features
            expected = {"moving_mean": (size,), "moving_variance": (size,)}
            if p["scale"]:
                expected["gamma"] = (size,)
            if p["center"]:
                expected["beta"] = (size,)
        elif layer.kind == "conv":
            expected = {"kernel": (*p["kernel"], channels, p["filters"])}
            if p["bias"]:
                expected["bias"] = (p["filters"],)
            rows = (rows - p["kernel"][0]) // p["strides"][0] + 1
            cols = (cols - p["kernel"][1]) // p["strides"][1] + 1
            channels = p["filters"]
        elif layer.kind == "maxpool":
            expected = {}
            rows = (rows - p["pool"][0]) // p["strides"][0] + 1
            cols = (cols - p["pool"][1]) // p["strides"][1] + 1
        elif layer.kind == "flatten":
            expected = {}
            features = rows * cols * channels
        elif layer.kind == "dropout":
            expected = {}
        else:  # dense
            if features is None:
                raise UserError(f"{origin}: Dense layer {layer.name} before any Flatten is not "
                                "supported")
            expected = {"kernel": (features, p["units"])}
            if p["bias"]:
                expected["bias"] = (p["units"],)
            features = p["units"]
        found = {k: tuple(v.shape) for k, v in w.items()}
        if found != expected:
            raise UserError(f"{origin}: layer {layer.name} holds weights {found}, but its "
                            f"configuration needs {expected}; the file is damaged or not a "
                            "plain Keras model.")
    if model.layers[-1].kind != "dense":
        raise UserError(f"{origin}: the network must end with a Dense layer")

