"""The AutoICE / AI4Arctic ice-chart classes: stage of development, concentration, floe size.

Codes are those of the AI4Arctic ready-to-train data (255 = masked: land, no chart, no SAR).
Colours follow the WMO ice chart colour code (WMO/TD-No. 1215) where it defines one: stage of
development (SoD) and total concentration (SIC, by its usual groups of
tenths). WMO has no colour code for floe size (FLOE); those colours are only a readable ramp.
"""

from __future__ import annotations

from dataclasses import dataclass

MASKED = 255


@dataclass(frozen=True)
class ChartClass:
    value: int
    name: str
    color: str


def _classes(entries) -> tuple[ChartClass, ...]:
    return tuple(ChartClass(value, name, color) for value, (name, color) in enumerate(entries))


SOD = _classes([
    ("open water", "#0064FF"),  # WMO: ice free
    ("new ice", "#F0D2FA"),
    ("young ice", "#AA28F0"),
    ("thin first-year ice", "#9BD200"),
    ("thick first-year ice", "#0000CD"),  # AI4Arctic merges medium and thick first-year ice
    ("old ice", "#B46432"),
])

# WMO total-concentration colours by tenths: 0 ice free, 1-3 green, 4-6 yellow, 7-8 orange,
# 9-10 red.
_SIC_COLOURS = ["#0064FF"] + ["#8CFFA0"] * 3 + ["#FFFF00"] * 3 + ["#FF7D07"] * 2 + ["#FF0000"] * 2
SIC = tuple(ChartClass(tenths, f"{10 * tenths}%", colour)
            for tenths, colour in enumerate(_SIC_COLOURS))

FLOE = _classes([
    ("open water", "#0064FF"),
    ("cake ice", "#FDE725"),
    ("small floe", "#7AD151"),
    ("medium floe", "#22A884"),
    ("big floe", "#2A788E"),
    ("vast floe", "#414487"),
    ("icebergs", "#9E9E9E"),
])

CHARTS = {"SIC": SIC, "SOD": SOD, "FLOE": FLOE}
