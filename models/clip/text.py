"""CLIP text tokens with a length check: a query longer than the model reads is reported with
its token count, never silently cut (open_clip's tokenizer would truncate it)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import UserError
from ..runtime.backends import require


class ClipTokenizer:
    """open_clip's byte-pair tokenizer (vocabulary shipped in the package) for one context length."""

    def __init__(self, context_length: int):
        require("open_clip", "tokenize CLIP text")
        from open_clip.tokenizer import SimpleTokenizer

        self.context_length = int(context_length)
        self._bpe = SimpleTokenizer(context_length=self.context_length)

    def token_count(self, text: str) -> int:
        """Tokens the model reads for ``text``: its byte pairs plus the start and end tokens."""
        return len(self._bpe.encode(text)) + 2

    def __call__(self, texts: Sequence[str], what: str = "query") -> np.ndarray:
        """(len(texts), context_length) int64 token ids, zero-padded."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise UserError(f"no {what} given: type at least one description.")
        ids = np.zeros((len(texts), self.context_length), np.int64)
        for row, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise UserError(f"{what} {row + 1} is empty: describe what to look for, e.g. "
                                "'a dense residential area with red roofs beside a river'.")
            tokens = [self._bpe.sot_token_id, *self._bpe.encode(text), self._bpe.eot_token_id]
            if len(tokens) > self.context_length:
                raise UserError(
                    f"{what} {row + 1} is {len(tokens)} tokens long, but this model reads at most "
                    f"{self.context_length} (start and end tokens included); nothing is cut "
                    f"silently. Shorten it by about {len(tokens) - self.context_length} tokens "
                    "(a token is roughly a short word or a piece of a long one)"
                    + (", or choose a long-text model such as lrsclip-vit-b-16 (248 tokens)."
                       if self.context_length < 248 else "."))
            ids[row, :len(tokens)] = tokens
        return ids
