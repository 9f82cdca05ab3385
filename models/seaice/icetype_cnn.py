"""NERSC s1_icetype_cnn: the released sea-ice type classifier for Sentinel-1 HH/HV windows.

Boulze, Korosov & Brajard (2020, Remote Sensing 12(13) 2165) trained a small Keras CNN on
50 x 50 pixel HH/HV windows of Sentinel-1 EW scenes against ice charts: BatchNormalization,
three 3x3 Conv2D layers of 32 filters with two 2x2 max-poolings, BatchNormalization, Flatten,
Dense 16-16-64 (ReLU, dropout 0.1) and a 4-class softmax (ice free, young ice, first-year ice,
old ice). The authors publish the model as ``weights.hdf5`` (GPL-3.0) in
github.com/nansencenter/s1_icetype_cnn; their ``get_icetype.py`` slides the window over the
scene with a step of 50 pixels and keeps the argmax and the top probability per window.

Here the file is read as data (``keras_hdf5``), the network rebuilt in torch from the file's
own layer configuration (``sequential``), and checked against the architecture the authors
describe, so a different file is refused instead of being loaded into the wrong network.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .keras_hdf5 import KerasModel, Layer, read_keras_hdf5

WINDOW = 50
BANDS = ("HH", "HV")
CLASSES = (  # names and colours of the authors' notebook (cnn_for_sea_ice_types.ipynb)
    {"value": 0, "name": "ice free", "color": "#0064FF"},
    {"value": 1, "name": "young ice", "color": "#AA28F0"},
    {"value": 2, "name": "first-year ice", "color": "#9BD200"},
    {"value": 3, "name": "old ice", "color": "#B46432"},
)
INPUT_NAME = "sar"
OUTPUT_NAME = "probabilities"


def nersc_layers(bands: int = len(BANDS), classes: int = len(CLASSES)) -> tuple[Layer, ...]:
    """The architecture as the authors define it (``create_model`` in their notebook)."""
    conv = {"filters": 32, "kernel": (3, 3), "strides": (1, 1), "activation": "relu",
            "bias": True}
    pool = {"pool": (2, 2), "strides": (2, 2)}
    norm = {"epsilon": 0.001, "center": True, "scale": True}

    def dense(units, activation="relu"):
        return Layer("dense", "", {"units": units, "activation": activation, "bias": True})

    drop = Layer("dropout", "", {})
    return (Layer("batchnorm", "", norm), Layer("conv", "", conv), Layer("maxpool", "", pool),
            Layer("conv", "", conv), Layer("conv", "", conv), Layer("maxpool", "", pool),
            Layer("batchnorm", "", norm), Layer("flatten", "", {}),
            drop, dense(16), drop, dense(16), drop, dense(64), drop, dense(classes, "softmax"))


def build_nersc_icetype_cnn(window: int = WINDOW, bands: int = len(BANDS),
                            classes: int = len(CLASSES)):
    """The torch network (weights unset): (N, bands, window, window) -> (N, classes) probabilities."""
    from .sequential import build_torch

    return build_torch(nersc_layers(bands, classes), (window, window, bands))


def read_nersc_model(path: str | Path) -> KerasModel:
    """The Keras file, refused unless it is the NERSC architecture (any window, bands, classes)."""
    model = read_keras_hdf5(path)
    rows, cols, bands = model.input_shape
    expected = nersc_layers(bands, model.output_size)
    if rows != cols:
        raise UserError(f"{path}: input windows are {rows} x {cols}; the NERSC network takes "
                        "square windows.")
    if len(model.layers) != len(expected):
        raise UserError(f"{path} has {len(model.layers)} layers, the NERSC s1_icetype_cnn "
                        f"has {len(expected)}: not the NERSC sea-ice type network.")
    for found, wanted in zip(model.layers, expected):
        if not found.same_architecture(wanted):
            raise UserError(f"{path}: layer {found.name} is {found.kind} {found.params}, the "
                            f"NERSC s1_icetype_cnn has {wanted.kind} {wanted.params} there.")
    return model


def read_nersc_state_dict(path: str | Path) -> dict:
    """Torch weights for ``build_nersc_icetype_cnn`` (the runtime's state-dict reader)."""
    from .sequential import torch_state_dict

    return torch_state_dict(read_nersc_model(path).layers)


def load_nersc_network(path: str | Path):
    """The released file as a ready torch module (eval mode), built from its own configuration."""
    from .sequential import build_torch, torch_state_dict

    model = read_nersc_model(path)
    network = build_torch(model.layers, model.input_shape)
    network.load_state_dict(torch_state_dict(model.layers), strict=True)
    return network.eval()


def training_input_statistics(model: KerasModel) -> dict[str, tuple[float, float]]:
    """Per band (mean, std) of the data the network was trained on, from the first
    BatchNormalization layer's moving averages: the scale the network expects its input in."""
    first = model.layers[0]
    if first.kind != "batchnorm":
        raise UserError("the network does not start with BatchNormalization")
    mean, variance = first.weights["moving_mean"], first.weights["moving_variance"]
    names = BANDS if len(mean) == len(BANDS) else [f"band {i + 1}" for i in range(len(mean))]
    return {name: (float(m), float(v) ** 0.5) for name, m, v in zip(names, mean, variance)}


def export_onnx(network, path: str | Path, window: int = WINDOW, bands: int = len(BANDS)) -> Path:
    """ONNX of the torch network: input ``sar`` (N, bands, window, window), output
    ``probabilities`` (N, classes); the batch size is dynamic."""
    import torch

    from ..runtime.onnx_export import export_onnx as export
    return export(network, {INPUT_NAME: torch.zeros(1, bands, window, window)}, path,
                  [OUTPUT_NAME], dynamic_size=False)
