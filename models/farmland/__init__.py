"""Farmland segmentation core: FTW field/boundary U-Net, field polygons, CLIPSeg prompts, training.

Framework-free (no qgis); the Processing tools rsai:farmland_segmentation and
rsai:polygonize_fields wrap these modules together with the generic tiled inference engine.
"""
