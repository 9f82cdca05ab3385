"""Network architectures that non-ONNX weights are loaded into, by the name a card gives.

The runtime lists only the generic networks (segmentation_models_pytorch); each method declares
its own in ``models/<method>/architectures.py`` as ``ARCHITECTURES = {name: Architecture(...)}``,
found by scanning the method packages, so the runtime never names a method. A card can only
pick a declared name: nothing a card says is imported as code. Builders are imported when a
card asks for them, so the registry costs nothing at start-up and holds no state.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import UserError

MODELS_PACKAGE = __package__.rsplit(".", 1)[0]  # "<plugin>.models"


@dataclass(frozen=True)
class Architecture:
    """``build`` and ``read_weights`` are "module:function"; a module starting with "." is
    relative to the models package. ``read_weights(path) -> state dict`` reads checkpoints in
    a published layout (Lightning, Keras HDF5); without it weights load with torch.load."""

    build: str
    read_weights: str | None = None
    fixed_kwargs: tuple[tuple[str, object], ...] = ()  # forced over the card's kwargs

    def builder(self):
        return _function(self.build)

    def reader(self):
        return _function(self.read_weights) if self.read_weights else None

    def build_module(self, kwargs: dict | None = None):
        return self.builder()(**{**(kwargs or {}), **dict(self.fixed_kwargs)})


def _smp(name: str) -> Architecture:
    # encoder_weights=None always: smp must never download weights on its own; every download
    # goes through the weights store (pinned, checksummed).
    return Architecture(f"segmentation_models_pytorch:{name}",
                        fixed_kwargs=(("encoder_weights", None),))


GENERIC = {f"smp.{name}": _smp(name)
           for name in ("Unet", "UnetPlusPlus", "DeepLabV3Plus", "FPN")}


@lru_cache(maxsize=1)
def declared_architectures() -> dict[str, Architecture]:
    """Every architecture name: the generic ones and each method package's own."""
    found = dict(GENERIC)
    models_dir = Path(__file__).resolve().parents[1]
    for package in pkgutil.iter_modules([str(models_dir)]):
        module_name = f"{MODELS_PACKAGE}.{package.name}.architectures"
        if module_name == __name__ or not package.ispkg \
                or importlib.util.find_spec(module_name) is None:
            continue
        declared = importlib.import_module(module_name).ARCHITECTURES
        clash = set(found) & set(declared)
        if clash:
            raise RuntimeError(f"architecture names declared twice: {sorted(clash)}")
        found.update(declared)
    return found


def find_architecture(name: str | None) -> Architecture:
    known = declared_architectures()
    if name not in known:
        raise UserError(f"unknown architecture {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def _function(reference: str):
    module_name, function = reference.split(":")
    if module_name.startswith("."):
        module = importlib.import_module(module_name, package=MODELS_PACKAGE)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise UserError(f"{module_name} is needed for this model but is not installed; "
                            "run the tool rsai:install_dependencies.")
    return getattr(module, function)
