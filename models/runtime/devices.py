"""Which GPU or CPU each backend would use here, in words for the model manager and run logs.

Nothing is imported that is not installed, and torch (slow to import) is only asked about
CUDA/MPS when it is already loaded or ``load_torch`` is set; otherwise its version is read from
the package metadata.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import platform
import shutil
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class BackendStatus:
    name: str  # "onnxruntime" or "torch"
    version: str | None  # None: not installed
    device: str  # what "auto" picks, e.g. "CUDAExecutionProvider" or "cuda (NVIDIA H100)"
    available: tuple[str, ...] = ()  # onnxruntime providers, torch device kinds

    def line(self) -> str:
        if self.version is None:
            return f"{self.name} not installed"
        extra = f" [{', '.join(self.available)}]" if self.available else ""
        return f"{self.name} {self.version}: {self.device}{extra}"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def onnxruntime_status() -> BackendStatus:
    version = _version("onnxruntime") or _version("onnxruntime-gpu")
    if version is None:
        return BackendStatus("onnxruntime", None, "")
    try:
        import onnxruntime as ort
        providers = tuple(ort.get_available_providers())
    except Exception as exc:  # a broken install (missing CUDA libraries...) must not break callers
        return BackendStatus("onnxruntime", version, f"cannot load ({type(exc).__name__})")
    device = "CUDAExecutionProvider" if "CUDAExecutionProvider" in providers else "CPUExecutionProvider"
    return BackendStatus("onnxruntime", version, device, providers)


def torch_status(load_torch: bool = False) -> BackendStatus:
    version = _version("torch")
    if version is None:
        return BackendStatus("torch", None, "")
    if "torch" not in sys.modules and not load_torch:
        return BackendStatus("torch", version, "not loaded yet (cuda if available, else cpu)")
    try:
        import torch
    except Exception as exc:
        return BackendStatus("torch", version, f"cannot load ({type(exc).__name__})")
    kinds = ["cpu"]
    if torch.cuda.is_available():
        kinds.insert(0, "cuda")
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        kinds.insert(0, "mps")
        device = "mps (Apple GPU)"
    else:
        device = f"cpu ({os.cpu_count()} threads)"
    return BackendStatus("torch", version, device, tuple(kinds))


def nvidia_driver() -> str | None:
    path = "/proc/driver/nvidia/version"
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.readline().strip() or "NVIDIA driver"
        except OSError:
            return "NVIDIA driver"
    smi = shutil.which("nvidia-smi")
    return f"nvidia-smi at {smi}" if smi else None


def cpu_name() -> str:
    name = platform.processor() or platform.machine()
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("model name"):
                        name = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
    return f"{name}, {os.cpu_count()} threads"


def device_report(load_torch: bool = False) -> list[str]:
    """Several lines: CPU, NVIDIA driver, then each backend and the device it would use."""
    driver = nvidia_driver()
    return [f"CPU: {cpu_name()}",
            f"NVIDIA driver: {driver or 'none found'}",
            onnxruntime_status().line(),
            torch_status(load_torch).line()]


def device_summary() -> str:
    """One line for the log of every run."""
    return "Devices: " + "; ".join(s.line() for s in (onnxruntime_status(), torch_status()))
