"""The measurement uncertainty of input pixels, from the three ways a user can state it.

A sigma raster (one band per input band), one constant sigma per band, and a relative
percentage (``sigma = p/100 * |value|``) may be combined: they are treated as independent
errors, so their variances add.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class MeasurementUncertainty:
    sigma_raster: str | None = None  # path; one sigma band per input band, same grid
    constant: tuple | None = None  # one sigma per band (or a single value for all bands)
    percent: float | None = None  # relative sigma in percent of |value|

    @property
    def is_empty(self) -> bool:
        return self.sigma_raster is None and self.constant is None and not self.percent

    @property
    def per_pixel(self) -> bool:
        """True when sigma varies per pixel (raster or percentage): the exact, slower path."""
        return self.sigma_raster is not None or bool(self.percent)

    def constant_sigma(self, n_bands: int) -> np.ndarray | None:
        """The per-band constant part as (n_bands,), or None."""
        if self.constant is None:
            return None
        c = np.atleast_1d(np.asarray(self.constant, dtype=np.float64))
        if c.size == 1:
            c = np.full(n_bands, c[0])
        if c.shape != (n_bands,):
            raise UserError(f"{c.size} constant sigma values given for a raster with {n_bands} "
                            f"bands: give one value per band, or a single value for all")
        if np.any(c < 0) or not np.all(np.isfinite(c)):
            raise UserError("constant sigma values must be finite and >= 0")
        return c

    def check(self, n_bands: int) -> None:
        self.constant_sigma(n_bands)
        if self.percent is not None and (self.percent < 0 or not np.isfinite(self.percent)):
            raise UserError(f"relative uncertainty must be a percentage >= 0 (got {self.percent})")

    def sigma_for(self, values: np.ndarray, sigma_values: np.ndarray | None = None):
        """Sigma for pixels ``values`` (n, d): None, (d,) when constant, or (n, d).

        ``sigma_values`` are the (n, d) values read from the sigma raster, when there is one.
        NaN sigma values (nodata in the sigma raster) count as zero uncertainty.
        """
        d = values.shape[1]
        const = self.constant_sigma(d)
        if not self.per_pixel:
            return const
        var = np.zeros(values.shape, dtype=np.float64)
        if sigma_values is not None:
            var += np.nan_to_num(np.asarray(sigma_values, dtype=np.float64)) ** 2
        if self.percent:
            var += (self.percent / 100.0 * np.abs(values)) ** 2
        if const is not None:
            var += const ** 2
        return np.sqrt(var)


def from_args(sigma_raster=None, sigma_constant=None, sigma_percent=None) -> MeasurementUncertainty:
    """Build from tool parameters; empty strings, empty lists and 0 % mean 'not given'."""
    const = None
    if sigma_constant is not None and not (isinstance(sigma_constant, str) and not
                                           sigma_constant.strip()):
        if isinstance(sigma_constant, str):
            try:
                const = tuple(float(v) for v in sigma_constant.replace(";", ",").split(","))
            except ValueError as exc:
                raise UserError(f"constant sigma {sigma_constant!r} is not a comma-separated "
                                f"list of numbers") from exc
        else:
            const = tuple(float(v) for v in np.atleast_1d(sigma_constant))
        if not const:
            const = None
    return MeasurementUncertainty(sigma_raster=sigma_raster or None, constant=const,
                                  percent=float(sigma_percent) if sigma_percent else None)


def from_text(sigma_raster=None, sigma_text: str | None = None) -> MeasurementUncertainty:
    """The tools' UNCERTAINTY / UNCERTAINTY_SIGMA: a sigma raster path and/or a text that is
    either per-band constants ``"0.01,0.02,..."`` (one value: all bands) or a relative
    percentage ``"5%"``."""
    text = (sigma_text or "").strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError as exc:
            raise UserError(f"uncertainty {text!r} is not a percentage like '5%'") from exc
        return from_args(sigma_raster, None, percent)
    return from_args(sigma_raster, text or None, None)
