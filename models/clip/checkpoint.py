"""Reading published CLIP weights safely, in the layouts their authors saved them.

Only plain tensors are read: ``torch.load(weights_only=True)`` or safetensors. A checkpoint that
needs unpickling of code objects (a whole pickled model, a TorchScript archive such as OpenAI's
original ``.pt`` files) is refused, never executed.

Layouts understood (learned from the authors' loaders, see the cards' citations):

* OpenAI / open_clip / RemoteCLIP: the keys of ``open_clip.model.CLIP``; OpenAI-derived files may
  add ``input_resolution``, ``context_length`` and ``vocab_size`` entries, which are dropped.
* Long-CLIP / LRSCLIP: two text position tables of 248 rows, ``positional_embedding`` and
  ``positional_embedding_res``. Long-CLIP adds ``positional_embedding * mask1 +
  positional_embedding_res * mask2`` to the tokens, with mask1 selecting the first 20 positions
  and mask2 the rest; that is one table made of the first 20 rows of the former and the remaining
  rows of the latter, which is what is loaded (the same sums, exactly).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..runtime.backends import require

LONG_CLIP_KEPT_POSITIONS = 20  # Long-CLIP's mask1: positions kept from the original CLIP table
OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


def read_clip_state_dict(path: str | Path, fmt: str = "torch_state_dict") -> dict:
    """Float32 tensors by open_clip key, from a state dict file in one of the layouts above
    (the runtime's ``read_weights`` for the ``open_clip_vit`` architecture)."""
    torch = require("torch", "read CLIP weights")
    path = Path(path)
    if not path.is_file():
        raise UserError(f"CLIP weights file {path} does not exist.")
    if fmt == "safetensors":
        state = require("safetensors.torch", "read safetensors weights").load_file(str(path))
    elif fmt == "torch_state_dict":
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError, TorchScript archives, truncated files
            raise UserError(
                f"{path} was refused: it is not a plain state dict of tensors and loading it would "
                f"need unpickling of code objects ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
                "Only state dicts (torch.save(model.state_dict())) or safetensors files are loaded; "
                "re-save the weights that way, or download the state-dict file the card names.")
    else:
        raise UserError(f"CLIP weights must be torch_state_dict or safetensors, not {fmt!r}.")
    if not isinstance(state, dict) or not state or not all(hasattr(v, "shape") for v in state.values()):
        raise UserError(f"{path} is not a state dict of tensors (got {type(state).__name__}); "
                        "use the weights file the model card names.")
    state = {k: v for k, v in state.items() if k not in OPENAI_EXTRA_KEYS}
    if "positional_embedding_res" in state and "positional_embedding" in state:
        kept = LONG_CLIP_KEPT_POSITIONS
        table, rest = state["positional_embedding"], state.pop("positional_embedding_res")
        state["positional_embedding"] = torch.cat([table[:kept], rest[kept:]])
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
