"""Write a one-layer convolution network as an ONNX file, with card metadata inside.

The smallest real model there is: a 1 x 1 kernel is a per-pixel linear map (a spectral index
or a linear classifier), larger kernels add spatial context. The demo and the tests use it, and
it is a quick way to run a hand-made linear classifier through the whole toolbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_conv_onnx(path: str | Path, weight: np.ndarray, bias: np.ndarray,
                    metadata: dict | None = None) -> Path:
    """weight (out, in, k, k), bias (out,) -> ONNX with dynamic batch and image size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out_channels, in_channels, kernel, _ = weight.shape
    node = helper.make_node("Conv", ["input", "W", "B"], ["output"], pads=[kernel // 2] * 4)
    graph = helper.make_graph(
        [node], "conv",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", in_channels, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", out_channels, "H", "W"])],
        [numpy_helper.from_array(weight.astype(np.float32), "W"),
         numpy_helper.from_array(bias.astype(np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by onnxruntime >= 1.14
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(model)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return Path(path)
