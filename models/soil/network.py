"""The fully connected soil network (PyTorch): training, prediction, ONNX export.

Inputs are standardised with the training mean/std and the outputs scaled back to the targets'
units inside the module, so the exported ONNX takes raw features. Training is full-batch AdamW
with dropout and weight decay (small data); a target missing for a sample is left out of the
loss (mask). The random state is forked, so training leaves torch's global RNG as it was.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn


class SoilNetwork(nn.Module):
    def __init__(self, n_in: int, n_out: int, hidden=(64, 32), dropout: float = 0.3):
        super().__init__()
        layers, width = [], n_in
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_out))
        self.layers = nn.Sequential(*layers)
        for name, size in (("x_mean", n_in), ("x_std", n_in), ("y_mean", n_out),
                           ("y_std", n_out)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.x_mean) / self.x_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardised(x) * self.y_std + self.y_mean


@contextlib.contextmanager
def _one_thread():
    """Run torch on one thread: for a network this small, thread hand-offs cost more than the
    maths (10x slower on a busy 2-core machine). The previous setting is restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_network(x: np.ndarray, y: np.ndarray, *, hidden=(64, 32), epochs: int = 150,
                  lr: float = 3e-3, weight_decay: float = 0.1, dropout: float = 0.3,
                  seed: int = 0) -> SoilNetwork:
    """Fit on (n, F) features and (n, K) targets (NaN = unknown). The defaults (few steps,
    strong weight decay and dropout) were chosen on LimeSoDa's 10-fold CV (BB.72, G.150,
    BB.250, MG.112): longer training overfits tens to hundreds of samples."""
    with _one_thread():
        return _train(x, y, hidden, epochs, lr, weight_decay, dropout, seed)


def _train(x, y, hidden, epochs, lr, weight_decay, dropout, seed) -> SoilNetwork:
    known = np.isfinite(y)
    x_std = x.std(0)
    y_mean = np.array([y[known[:, k], k].mean() for k in range(y.shape[1])])
    y_std = np.array([y[known[:, k], k].std() for k in range(y.shape[1])])
    y_std = np.where(y_std > 0, y_std, 1.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = SoilNetwork(x.shape[1], y.shape[1], hidden, dropout)
        with torch.no_grad():
            module.x_mean.copy_(torch.as_tensor(x.mean(0)))
            module.x_std.copy_(torch.as_tensor(np.where(x_std > 0, x_std, 1.0)))
            module.y_mean.copy_(torch.as_tensor(y_mean))
            module.y_std.copy_(torch.as_tensor(y_std))
        inputs = torch.as_tensor(x, dtype=torch.float32)
        goal = torch.as_tensor(np.where(known, (y - y_mean) / y_std, 0.0), dtype=torch.float32)
        mask = torch.as_tensor(known, dtype=torch.float32)
        optimiser = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
        module.train()
        for _ in range(epochs):
            optimiser.zero_grad()
            loss = (((module.standardised(inputs) - goal) ** 2) * mask).sum() / mask.sum()
            loss.backward()
            optimiser.step()
    return module.eval()


def predict(module: SoilNetwork, x: np.ndarray) -> np.ndarray:
    with torch.no_grad(), _one_thread():
        return module(torch.as_tensor(x, dtype=torch.float32)).double().numpy()


def to_onnx(module: SoilNetwork, n_features: int):
    """The network as an in-memory ONNX model: ``features`` (N, F) -> ``values`` (N, K)."""
    import tempfile

    import onnx

    from ..runtime.onnx_export import export_onnx
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(module, {"features": torch.zeros(2, n_features)},
                           f"{folder}/network.onnx", ("values",), dynamic_size=False)
        return onnx.load(str(path))
