# Sourced by scripts/demo.sh ($out: the demo folder, step: runs one step). Pansharpening with GSA
# and its quality table: the real WorldView-2 pair beside the checkout
# (../shared/data/pansharpening) when it is there, else a synthetic pair. Downloads nothing (ADWM
# needs its weights: see the docs).
echo
step "pansharpening inputs" "." .venv/bin/python scripts/pansharpening_demo_inputs.py "$out" \
  "${RSAI_SHARED_DATA:-$PWD/../shared/data}"
read -r ps_pan ps_ms < <(tail -n 1 "$out/logs/pansharpening_inputs.log")
step "rsai:pansharpen: GSA" "^PAN |^WARNING" \
  scripts/qgis_process run rsai:pansharpen -- PAN="$ps_pan" MS="$ps_ms" METHOD=1 SENSOR=1 \
  OUTPUT="$out/pansharpened_gsa.tif"
step "rsai:pansharpening_quality" "^WARNING" \
  scripts/qgis_process run rsai:pansharpening_quality -- FUSED="$out/pansharpened_gsa.tif" \
  PAN="$ps_pan" MS="$ps_ms" MODE=0 SENSOR=1 OUTPUT_TABLE="$out/pansharpening_quality.csv"
echo "Full-resolution quality of GSA ($out/pansharpening_quality.csv):"
cut -d, -f1,2 "$out/pansharpening_quality.csv" | sed 's/,/	/; s/^/  /'
