"""Cross-validation folds for soil samples: spatial blocks by default.

Neighbouring soil samples are alike (spatial autocorrelation), so random folds put near twins on
both sides of a split and report optimistic scores. Spatial block CV cuts the plane into square
blocks (``block_size`` metres) and gives whole blocks to folds. Random folds are offered only when
asked; even then samples that share a pixel (identical features) stay together.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError


def spatial_block_folds(xy: np.ndarray, block_size: float, n_folds: int,
                        seed: int = 0) -> np.ndarray:
    """Fold index (0..n_folds-1) per sample; whole blocks per fold, folds about equal in samples.

    Blocks are shuffled, then each goes to the fold holding the fewest samples so far (largest
    blocks first, so the sizes even out)."""
    _check_counts(len(xy), n_folds)
    if not block_size > 0:
        raise UserError(f"the CV block size must be a positive number of metres (got "
                        f"{block_size})")
    cells = np.floor(np.asarray(xy, np.float64) / block_size).astype(np.int64)
    _, block = np.unique(cells, axis=0, return_inverse=True)
    block = block.reshape(-1)
    return _blocks_to_folds(block, n_folds, seed, what=f"blocks of {block_size:g} m",
                            fix="use a smaller CV block size or fewer folds")


def random_folds(n_samples: int, n_folds: int, seed: int = 0,
                 groups: np.ndarray | None = None) -> np.ndarray:
    """Random folds; samples with the same ``groups`` value (e.g. one pixel) stay together."""
    _check_counts(n_samples, n_folds)
    groups = np.arange(n_samples) if groups is None else np.unique(
        groups, axis=0, return_inverse=True)[1].reshape(-1)
    return _blocks_to_folds(groups, n_folds, seed, what="distinct pixels",
                            fix="use fewer folds")


def given_folds(values, field: str) -> np.ndarray:
    """Fold index per sample from a field's values (any distinct values; sorted)."""
    values = np.asarray(values, dtype=object)
    empty = [i for i, v in enumerate(values) if v is None or str(v).strip() == ""]
    if empty:
        raise UserError(f"{len(empty)} samples have an empty fold field {field!r}: fill it in "
                        f"for every sample or leave FOLD_FIELD empty to use spatial blocks")
    keys = sorted({str(v).strip() for v in values}, key=_natural)
    if len(keys) < 2:
        raise UserError(f"the fold field {field!r} holds a single value ({keys[0]}): "
                        f"cross-validation needs at least 2 folds")
    index = {k: i for i, k in enumerate(keys)}
    return np.array([index[str(v).strip()] for v in values], dtype=np.int64)


def _natural(key: str):
    """Sort '2' before '10' when the folds are numbers."""
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def _check_counts(n_samples: int, n_folds: int) -> None:
    if n_folds < 2:
        raise UserError(f"cross-validation needs at least 2 folds (got {n_folds})")
    if n_samples < n_folds:
        raise UserError(f"{n_samples} samples are fewer than the {n_folds} CV folds: use at most "
                        f"{n_samples} folds, or add samples")


def _blocks_to_folds(block: np.ndarray, n_folds: int, seed: int, what: str,
                     fix: str) -> np.ndarray:
    n_blocks = int(block.max()) + 1
    if n_blocks < n_folds:
        raise UserError(f"the samples fall into only {n_blocks} {what}, fewer than the "
                        f"{n_folds} folds: {fix}")
    sizes = np.bincount(block, minlength=n_blocks)
    order = np.random.default_rng(seed).permutation(n_blocks)
    order = order[np.argsort(-sizes[order], kind="stable")]
    fold_of_block = np.empty(n_blocks, dtype=np.int64)
    load = np.zeros(n_folds, dtype=np.int64)
    for b in order:
        f = int(np.argmin(load))
        fold_of_block[b] = f
        load[f] += sizes[b]
    return fold_of_block[block]
