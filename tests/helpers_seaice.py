"""Test helpers for sea ice: small Keras HDF5 files, AI4Arctic-layout netCDF scenes, SAR rasters."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

NERSC_WEIGHTS = "seaice/nersc_s1_icetype_cnn_weights.hdf5"


def keras_layer(class_name: str, name: str, **config) -> dict:
    """A layer entry as Keras 2.2 writes it in model_config."""
    defaults = {
        "Conv2D": {"strides": [1, 1], "padding": "valid", "data_format": "channels_last",
                   "dilation_rate": [1, 1], "activation": "relu", "use_bias": True},
        "MaxPooling2D": {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid",
                         "data_format": "channels_last"},
        "BatchNormalization": {"axis": -1, "epsilon": 0.001, "center": True, "scale": True},
        "Dense": {"activation": "relu", "use_bias": True},
        "Flatten": {"data_format": "channels_last"},
        "Dropout": {"rate": 0.1},
    }.get(class_name, {})
    return {"class_name": class_name, "config": {"name": name, "trainable": True,
                                                 **defaults, **config}}


def write_keras_hdf5(path: Path, layers: list[dict], weights: dict[str, dict[str, np.ndarray]],
                     input_shape=(50, 50, 2), model_config: bool = True) -> Path:
    """A Keras-2.2-style model file: model_config JSON + model_weights/<layer>/<layer>/<w>:0."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        if model_config:
            config = {"class_name": "Sequential",
                      "config": {"name": "sequential_1", "layers": layers,
                                 "build_input_shape": [None, *input_shape]}}
            f.attrs["model_config"] = json.dumps(config).encode()
        group = f.create_group("model_weights")
        names = [entry["config"]["name"] for entry in layers]
        group.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            layer_group = group.create_group(name)
            arrays = weights.get(name, {})
            layer_group.attrs["weight_names"] = np.array(
                [f"{name}/{key}:0".encode() for key in arrays])
            for key, array in arrays.items():
                layer_group.create_dataset(f"{name}/{key}:0", data=np.asarray(array, np.float32))
    return path


def random_cnn(path: Path, rng: np.random.Generator, window: int = 12, bands: int = 2,
               classes: int = 3, filters: int = 4, hidden: int = 5) -> Path:
    """A small random Keras CNN with every supported layer kind (not the NERSC architecture)."""
    def normal(*shape, scale=0.3):
        return rng.normal(0, scale, shape).astype(np.float32)

    conv_out = (window - 2) // 2  # conv 3x3 valid, then pool 2
    layers = [keras_layer("BatchNormalization", "bn_in"),
              keras_layer("Conv2D", "conv", filters=filters, kernel_size=[3, 3]),
              keras_layer("MaxPooling2D", "pool"),
              keras_layer("Flatten", "flat"),
              keras_layer("Dropout", "drop"),
              keras_layer("Dense", "hidden", units=hidden, activation="tanh"),
              keras_layer("BatchNormalization", "bn_hidden", center=False),
              keras_layer("Dense", "out", units=classes, activation="softmax")]
    features = conv_out * conv_out * filters
    weights = {
        "bn_in": {"gamma": 1 + normal(bands), "beta": normal(bands),
                  "moving_mean": normal(bands, scale=2), "moving_variance": 0.5 + rng.random(bands)},
        "conv": {"kernel": normal(3, 3, bands, filters), "bias": normal(filters)},
        "hidden": {"kernel": normal(features, hidden, scale=0.1), "bias": normal(hidden)},
        "bn_hidden": {"gamma": 1 + normal(hidden), "moving_mean": normal(hidden),
                      "moving_variance": 0.5 + rng.random(hidden)},
        "out": {"kernel": normal(hidden, classes), "bias": normal(classes)},
    }
    return write_keras_hdf5(path, layers, weights, (window, window, bands))
