"""Sea ice from Sentinel-1 SAR: the NERSC sea-ice type CNN, SAR preparation, the AutoICE
classes and scores, and a multi-task U-Net training script (docs/seaice.md)."""
