# Sourced by scripts/demo.sh ($out: the demo folder, step: runs one step). Bayesian land cover on
# the real Sentinel-2 patch beside the checkout (../shared/data/landcover_s2); skipped when it is
# absent. Downloads nothing.
landcover_s2="${RSAI_SHARED_DATA:-$PWD/../shared/data}/landcover_s2"
if [ -d "$landcover_s2" ]; then
  echo
  step "landcover_s2.tif from the real Sentinel-2 patch" "." .venv/bin/python - \
    "$landcover_s2/.." "$out/landcover_s2.tif" <<'PY'
import sys
from pathlib import Path
sys.path[:0] = [str(Path("tests").resolve()), str(Path("build/plugins").resolve())]
from helpers import landcover_geotiff  # the same GeoTIFF the tests use
landcover_geotiff(Path(sys.argv[1]), Path(sys.argv[2]))
PY
  step "rsai:bayes_landcover_train: the real Sentinel-2 patch" "accuracy|test pixels|^WARNING" \
    scripts/qgis_process run rsai:bayes_landcover_train -- INPUT="$out/landcover_s2.tif" \
    TRAINING="$landcover_s2/LULC_polygons.gpkg" CLASS_FIELD=LULC_ID NAME_FIELD=LULC_NAME \
    OUTPUT_MODEL="$out/bayes_landcover_model.json" OUTPUT_REPORT="$out/bayes_landcover_report.html"
  step "rsai:bayes_landcover_classify" "pixels classified|^WARNING" \
    scripts/qgis_process run rsai:bayes_landcover_classify -- INPUT="$out/landcover_s2.tif" \
    MODEL="$out/bayes_landcover_model.json" OUTPUT="$out/bayes_landcover.tif" \
    OUTPUT_PROBABILITIES="$out/bayes_landcover_probabilities.tif" \
    OUTPUT_UNCERTAINTY="$out/bayes_landcover_uncertainty.tif"
  echo "Accuracy report (Bayesian QDA vs QDA and random forest): $out/bayes_landcover_report.html"
else
  echo "(Bayesian land cover demo skipped: no real sample data at $landcover_s2)"
fi
