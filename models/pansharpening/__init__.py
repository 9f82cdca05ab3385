"""Pansharpening core (no QGIS): classical methods, quality indices, ADWM networks.

Layout: arrays are bands-first (B, H, W) in DN, like GDAL's ReadAsArray. Inputs are the
low-resolution MS ``ms_lr`` (B, h, w) and the PAN (h*ratio, w*ratio).

Modules
- ``classical``: ``fit(method, ms_lr, pan, ratio, sensor, weights) -> params`` (global
  statistics, JSON-friendly dict), ``apply(params, ms_up, pan)`` (one tile, MS already on the
  PAN grid), ``pansharpen_tile(params, ms_lr_tile, pan_tile, ratio)`` (interp23tap + apply),
  ``pansharpen(...)`` (whole image), ``pansharpen_tiled(...)`` (reference tiled driver),
  ``halo_px(method, ratio)`` / ``apply_halo_px(method, ratio)`` (overlap in PAN pixels).
  Methods: brovey, gsa, mtf_glp_hpm, bdsd_pc, awlp. Halo for ratio 4 (from ms_lr, which includes
  the 23-tap upsampling): 36 for brovey, gsa, bdsd_pc, awlp; 56 for mtf_glp_hpm. Given ms_up,
  brovey/gsa/bdsd_pc are pointwise (halo 0, bit-exact), awlp needs 8, mtf_glp_hpm 56.
- ``metrics``: sam, ergas, q2n, scc, uqi, d_lambda, d_lambda_khan, d_s,
  ``reduced_resolution_pair`` (Wald protocol), ``reduced_resolution_indices`` (21-pixel cut),
  ``full_resolution_indices`` (D_lambda, D_s, QNR, D_lambda_K, HQNR).
- ``filters``: sensor MTF table (WV3, WV2, QB, GF2, generic; 2047 / 1023 scales), interp23tap,
  MTF filters, MATLAB-compatible bicubic ``imresize``.
- ``adwm``: ``build_adwm(name)`` for "adwm_fusionnet", "adwm_lagconv", "adwm_lgpnet";
  ``load_adwm``, ``pansharpen_adwm`` (whole image or tiled with whole-image statistics;
  halo 24 / 24 / 36 PAN pixels), ``export_onnx``.
- ``tiling``: ``iter_tiles`` (ratio-aligned tiles with halo).

Deviations from Vivone's toolbox (as in DLPan-Toolbox) and from the ADWM code
- All filters pad with edge replication or half-sample symmetry (toolbox: interp23tap circular;
  the wavelet analysis symmetric and its synthesis zero-padded). Results differ only within
  ~40 PAN pixels of the image edge, and tiles at the image edge then match the whole image.
- The "a trous" low-pass of GSA/AWLP (toolbox ndwt2_working, 2 levels, no holes) is the
  equivalent 17-tap binomial kernel.
- MTF-GLP-HPM: the histogram-matched PAN can go to 0 or below in dark areas of high-variance
  bands, where PAN/PAN_LP explodes (ERGAS 61 on the WV2 test pair); the numerator is floored
  at 0 and the denominator at 5% of the band mean (``HPM_FLOOR``).
- BDSD-PC's constrained least squares (lsqlin) is solved as an equivalent NNLS.
- Brovey follows GDAL's weighted Brovey (no clamping or rounding: output is float DN) on the
  interp23tap-upsampled MS; GDAL upsamples with cubic resampling.
- Wald protocol: PAN degraded with its MTF filter + decimation (the toolbox's resize_images uses
  bicubic imresize for the PAN); the MS with its MTF filter + decimation, as in the toolbox.
- GF2 is not in the toolbox's MTF table: it uses the toolbox default gains (0.3 MS, 0.15 PAN).
- "Plain bicubic" baseline = MATLAB-style bicubic imresize (a = -0.5).
- ADWM: LAGConv's CovBlock in the released code has a LayerNorm with no weights in the released
  state_dict; it is left out (better on the WV3 pair). LGPNet's state_dict has an unused
  'temperature' tensor; it is loaded and ignored (the authors' code ignores it too). ADWM-LGPNet
  equals the authors' forward pass within 1e-6, but its released weights do not beat bicubic on
  the tiny WV3 pair (they do on WV2).

Raster level (what the Processing tools call)
- ``rasters``: the PAN/MS pair on disk (checks; MS warped onto the PAN-aligned grid), tiled
  classical methods, ADWM, and weighted Brovey as GDAL computes it (GDAL's cubic upsampling,
  float32, parallel strips) -> GeoTIFF on the PAN grid.
- ``quality``: indices of rasters at full or reduced resolution; the CSV/HTML table.
"""
