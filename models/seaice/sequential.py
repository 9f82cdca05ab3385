"""A Keras layer list (``keras_hdf5.Layer``) as a torch module and as a plain NumPy forward pass.

Two independent implementations of one description: torch serves inference and the ONNX export,
NumPy (float64, written from the Keras formulas) checks that the torch rebuild and the weight
conversion are right. Both take channels-first input (N, C, rows, cols), as the runtime feeds
every model; Keras's channels-last order matters only at Flatten, where features are ordered
(row, col, channel) as the stored Dense kernel expects.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .keras_hdf5 import Layer


# -- torch --------------------------------------------------------------------------------------
def build_torch(layers: tuple[Layer, ...], input_shape: tuple[int, int, int]):
    """An ``nn.Module`` computing ``layers`` on (N, C, rows, cols) float32; weights unset."""
    import torch
    from torch import nn

    class ChannelsLastFlatten(nn.Module):
        """Flatten in Keras's (row, col, channel) order."""

        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    class KerasSequential(nn.Module):
        def __init__(self):
            super().__init__()
            rows, cols, channels = input_shape
            features = None
            ops, self.activations = [], []
            for layer in layers:
                p = layer.params
                activation = p.get("activation", "linear")
                if layer.kind == "batchnorm":
                    size = channels if features is None else features
                    norm = nn.BatchNorm2d if features is None else nn.BatchNorm1d
                    op = norm(size, eps=p["epsilon"])
                elif layer.kind == "conv":
                    op = nn.Conv2d(channels, p["filters"], p["kernel"], p["strides"],
                                   bias=p["bias"])
                    rows = (rows - p["kernel"][0]) // p["strides"][0] + 1
                    cols = (cols - p["kernel"][1]) // p["strides"][1] + 1
                    channels = p["filters"]
                elif layer.kind == "maxpool":
                    op = nn.MaxPool2d(p["pool"], p["strides"])
                    rows = (rows - p["pool"][0]) // p["strides"][0] + 1
                    cols = (cols - p["pool"][1]) // p["strides"][1] + 1
                elif layer.kind == "flatten":
                    op = ChannelsLastFlatten()
                    features = rows * cols * channels
                elif layer.kind == "dropout":
                    op = nn.Identity()
                else:  # dense
                    op = nn.Linear(features, p["units"], bias=p["bias"])
                    features = p["units"]
                ops.append(op)
                self.activations.append(activation)
            self.ops = nn.ModuleList(ops)

        def forward(self, x):
            for op, activation in zip(self.ops, self.activations):
                x = op(x)
                if activation == "relu":
                    x = torch.relu(x)
                elif activation == "softmax":
                    x = torch.softmax(x, dim=1)
                elif activation == "sigmoid":
                    x = torch.sigmoid(x)
                elif activation == "tanh":
                    x = torch.tanh(x)
            return x

    return KerasSequential().eval()


def torch_state_dict(layers: tuple[Layer, ...]) -> dict:
    """The Keras arrays under the keys of ``build_torch``'s module, transposed to torch order."""
    import torch

    state = {}
    for index, layer in enumerate(layers):
        w, key = layer.weights, f"ops.{index}."
        if layer.kind == "batchnorm":
            size = w["moving_mean"].shape[0]
            state[key + "weight"] = w.get("gamma", np.ones(size, np.float32))
            state[key + "bias"] = w.get("beta", np.zeros(size, np.float32))
            state[key + "running_mean"] = w["moving_mean"]
            state[key + "running_var"] = w["moving_variance"]
            state[key + "num_batches_tracked"] = np.zeros((), np.int64)
        elif layer.kind == "conv":
            state[key + "weight"] = w["kernel"].transpose(3, 2, 0, 1)  # (kh,kw,in,out) -> torch
        elif layer.kind == "dense":
            state[key + "weight"] = w["kernel"].T  # (in, out) -> (out, in)
        if layer.kind in ("conv", "dense") and "bias" in w:
            state[key + "bias"] = w["bias"]
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


# -- NumPy --------------------------------------------------------------------------------------
def numpy_forward(layers: tuple[Layer, ...], x: np.ndarray) -> np.ndarray:
    """The network on (N, C, rows, cols) in float64, straight from the Keras definitions."""
    x = np.asarray(x, dtype=np.float64)
    for layer in layers:
        p, w = layer.params, {k: v.astype(np.float64) for k, v in layer.weights.items()}
        if layer.kind == "batchnorm":
            shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
            gamma = w.get("gamma", np.ones_like(w["moving_mean"]))
            beta = w.get("beta", np.zeros_like(w["moving_mean"]))
            scale = gamma / np.sqrt(w["moving_variance"] + p["epsilon"])
            x = (x - w["moving_mean"].reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)
        elif layer.kind == "conv":
            (kh, kw), (sh, sw) = p["kernel"], p["strides"]
            patches = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
            x = np.einsum("ncyxij,ijco->noyx", patches, w["kernel"], optimize=True)
            if "bias" in w:
                x = x + w["bias"][None, :, None, None]
        elif layer.kind == "maxpool":
            (ph, pw), (sh, sw) = p["pool"], p["strides"]
            x = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::sh, ::sw].max(axis=(4, 5))
        elif layer.kind == "flatten":
            x = x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1)
        elif layer.kind == "dense":
            x = x @ w["kernel"] + w.get("bias", 0.0)
        x = _activate(x, p.get("activation", "linear"))
    return x


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if activation == "tanh":
        return np.tanh(x)
    return x
