# Sourced by scripts/demo.sh ($out: the demo folder, step: runs one step). Polygonizes the real
# FTW 3-class mask from ../shared/data when it is there; downloads nothing.
farmland_data="${RSAI_SHARED_DATA:-$PWD/../shared/data}/farmland"
if [ -d "$farmland_data" ]; then
  echo
  step "rsai:polygonize_fields: fields of the real FTW mask (Upper Austria)" \
    "field polygons|^WARNING" \
    scripts/qgis_process run rsai:polygonize_fields -- \
    INPUT="$farmland_data/ftw_prediction_mask_3class.tif" MIN_AREA=500 OUTPUT="$out/fields.gpkg"
else
  echo "(farmland demo skipped: no real sample data at $farmland_data)"
fi
