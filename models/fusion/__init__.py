"""Aerial + satellite fusion land cover core (no QGIS): DeepLabV3+ with a Sentinel-2 branch,
the satellite footprint of an aerial tile, and training on LandCover.ai's layout.

The Processing tool rsai:fusion_landcover is not written yet: it waits for the engine to read
named inputs on their own grids (docs/fusion.md).
"""
