# Sourced by scripts/demo.sh ($out is the demo folder). Polygonizes the real FTW 3-class mask
# from ../shared/data when it is there; downloads nothing.
farmland_data="$PWD/../shared/data/farmland"
if [ -d "$farmland_data" ]; then
  echo "== rsai:polygonize_fields: fields of the real FTW mask (Upper Austria)"
  scripts/qgis_process run rsai:polygonize_fields -- \
    INPUT="$farmland_data/ftw_prediction_mask_3class.tif" MIN_AREA=500 \
    OUTPUT="$out/fields.gpkg" 2>/dev/null | sed -n '/field polygons\|Warning/p'
else
  echo "== farmland: $farmland_data not found; skipping the field polygons demo"
fi
