"""Pansharpening core (no QGIS): classical methods, quality indices, ADWM networks.

Layout: arrays are bands-first (B, H, W) in DN, like GDAL's ReadAsArray; NaN marks nodata.
Inputs are the low-resolution MS ``ms_lr`` (B, h, w) and the PAN (h*ratio, w*ratio).

Phase (where MS pixel k lands on the PAN grid) is an explicit parameter of the upsampling and of
every method: ``"geometric"`` (default) puts it where GDAL's geotransforms do (MS pixel edges on
PAN pixel edges: centre at PAN coordinate r*k + (r-1)/2, 4k + 1.5 for ratio 4), for real pairs;
``"toolbox"`` reproduces Vivone's toolbox (4k + 2, and the toolbox's padding in the fits), only
for pairs degraded the toolbox's way (the quality tool's reduced-resolution protocol).

Modules
- ``classical``: ``fit(method, ms_lr, pan, ratio, sensor, weights, phase) -> params`` (global
  statistics, nodata left out, JSON-friendly dict), ``apply(params, ms_up, pan)`` (one tile, MS
  already on the PAN grid), ``pansharpen_tile(params, ms_lr_tile, pan_tile, ratio)`` (upsample
  + apply, nodata -> NaN), ``pansharpen(...)`` (whole image), ``pansharpen_tiled(...)``
  (reference tiled driver in memory, on the engine's clipped tiles: ``tile_windows``), ``halo_px(method, ratio, phase)`` / ``apply_halo_px`` (overlap in
  PAN pixels). Methods: brovey, gsa, mtf_glp_hpm, bdsd_pc, awlp. Halo for ratio 4 (from ms_lr,
  which includes the upsampling): geometric 24 (brovey, gsa, bdsd_pc, awlp) and 48
  (mtf_glp_hpm); toolbox 36 and 60. Given ms_up, brovey/gsa/bdsd_pc are pointwise (halo 0,
  bit-exact), awlp needs 8.
- ``metrics``: sam, ergas, q2n, scc, uqi, d_lambda, d_lambda_khan, d_s,
  ``reduced_resolution_pair`` (Wald protocol as the toolbox's resize_images; PAN by bicubic
  imresize, or its MTF filter), ``reduced_resolution_indices`` (21-pixel cut),
  ``full_resolution_indices`` (D_lambda, D_s, QNR, D_lambda_K, HQNR; MS upsampled at ``phase``).
- ``filters``: sensor MTF table (WV3, WV2, QB, GF2, generic; 2047 / 1023 scales), ``upsample``
  (the toolbox's 23-tap polynomial kernel at either phase; interp23tap itself for the toolbox
  phase), ``decimate``, MTF filters, the toolbox's a-trous low-pass, MATLAB-compatible bicubic
  ``imresize``. All ignore NaN (normalised convolution).
- ``adwm``: ``build_adwm(name)`` for "adwm_fusionnet", "adwm_lagconv", "adwm_lgpnet";
  ``load_adwm``, ``pansharpen_adwm`` (whole image or tiled with whole-image statistics;
  halo 24 / 24 / 36 PAN pixels; clamping warning), ``export_onnx``.

Deviations from Vivone's toolbox (as in DLPan-Toolbox) and from the ADWM code
- ``apply`` pads with edge replication or half-sample symmetry (toolbox: interp23tap circular),
  so tiles at the image edge match the whole image; results differ from the toolbox only within
  ~40 PAN pixels of the image edge. In toolbox mode the fits use the toolbox's own padding
  (circular interp23tap, the wavelet's symmetric extensions), so BDSD-PC and GSA equal the
  toolbox in the interior (tested against transcriptions of BDSD_PC.m and GSA.m); in geometric
  mode the fits use the same edge-replicated images as ``apply``.
- The geometric phase upsamples with the 12-point Lagrange polynomial that the 23-tap kernel
  samples half-way, evaluated at each PAN pixel's own position (any whole ratio); nearest
  decimation becomes the mean of the block's 2 x 2 centre pixels for an even ratio.
- MTF-GLP-HPM: the histogram-matched PAN can go to 0 or below in dark areas of high-variance
  bands, where PAN/PAN_LP explodes: on the WV2 test pair degraded with the MTF-filtered PAN the
  toolbox's formula gives ERGAS 61 with these filters (76 measured with the toolbox in Octave)
  from a handful of pixels where PAN_LP is about 0; the numerator is floored at 0 and the
  denominator at 5% of the band mean (``HPM_FLOOR``). Under the toolbox's own protocol
  (bicubic PAN) the guard changes ERGAS from 4.255 to 4.238.
- BDSD-PC's constrained least squares (lsqlin) is solved as an equivalent NNLS.
- Brovey follows GDAL's weighted Brovey (no clamping or rounding: output is float DN); the
  tool upsamples with GDAL's cubic resampling, the core with ``upsample``.
- Nodata: left out of the fits, filters renormalised over valid pixels, NaN in the output where
  the PAN or the MS pixel under it is nodata (the toolbox has no nodata).
- GF2 is not in the toolbox's MTF table: it uses the toolbox default gains (0.3 MS, 0.15 PAN).
- "Plain bicubic" baseline = MATLAB-style bicubic imresize (a = -0.5).
- ADWM: LAGConv's CovBlock in the authors' current code has a LayerNorm whose weights are not in
  the released state_dict (so their strict load fails): it is left out (``cov_layernorm=False``;
  the option applies a weightless LayerNorm). LAGConv runs in float64 (float32 made it depend
  on threads and tiling by up to 15 DN). LGPNet's state_dict has an unused 'temperature'
  tensor; it is loaded and ignored (the authors' code ignores it too). FusionNet and LGPNet
  equal the authors' forward pass within 1.2e-3 and 1.5e-3 DN (issue 18); LGPNet's released
  weights do not beat bicubic on the tiny WV3 pair (they do on WV2).

Raster level (what the Processing tools call)
- ``rasters``: the PAN/MS pair on disk (checks, the pixel ratio, the sensor from the metadata)
  run through the engine (models/runtime/engine.py) as two named inputs ``pan`` and ``ms``:
  window reads where the MS pixels line up with the PAN, per-tile warps otherwise, tiles cut at
  the raster's edge with each method's halo, nodata as NaN; classical fits and ADWM statistics
  in the predictor's fit hook; weighted Brovey on GDAL's cubic upsampling in the read ->
  GeoTIFF on the PAN grid.
- ``quality``: indices of rasters at full resolution (FUSED checked to be on the PAN grid) or
  reduced resolution (the toolbox's protocol, MTF-filtered PAN as an option); the CSV/HTML
  table names the protocol and which way each index is better.
"""
