"""Default class colours: the usual map colours for land-cover names a user will recognise,
and a distinct palette for the rest (classes that arrive without colours)."""

from __future__ import annotations

from typing import Sequence

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")

# Checked in order: the first keyword found in the lower-cased class name decides.
LAND_COVER = (("water", "#1f78b4"), ("sea", "#1f78b4"), ("lake", "#1f78b4"),
              ("river", "#1f78b4"), ("wetland", "#6fb7b7"), ("marsh", "#6fb7b7"),
              ("forest", "#1b7837"), ("tree", "#1b7837"), ("wood", "#1b7837"),
              ("shrub", "#8c9e3a"), ("schrub", "#8c9e3a"), ("grass", "#a6d96a"),
              ("meadow", "#a6d96a"), ("pasture", "#a6d96a"), ("crop", "#f2c12e"),
              ("cultivat", "#f2c12e"), ("farm", "#f2c12e"), ("field", "#f2c12e"),
              ("paddy", "#f2c12e"), ("artificial", "#d7301f"), ("urban", "#d7301f"),
              ("built", "#d7301f"), ("road", "#636363"), ("bare", "#d9b38c"),
              ("soil", "#d9b38c"), ("sand", "#f6e8c3"), ("snow", "#f7fbff"), ("ice", "#deebf7"),
              ("cloud", "#ffffff"), ("shadow", "#404040"))


def class_colours(names: Sequence[str]) -> tuple[str, ...]:
    """One '#rrggbb' per class name."""
    colours = []
    for index, name in enumerate(names):
        lowered = str(name).lower()
        colours.append(next((colour for keyword, colour in LAND_COVER if keyword in lowered),
                            PALETTE[index % len(PALETTE)]))
    return tuple(colours)
