#!/usr/bin/env bash
# One-shot set-up on a fresh Debian/Ubuntu machine: QGIS from the distribution when missing,
# then a virtual environment in .venv (with QGIS's own Python packages visible) holding the
# Python packages of one set. QGIS's numpy is pinned so its bindings keep working.
#   bash scripts/setup_env.sh demo   the small set and the demo's model writer (requirements/demo.txt)
#   bash scripts/setup_env.sh test   everything the tests need (runtime.txt, with torch, + test.txt)
set -euo pipefail
SET="${1:-test}"
case "$SET" in
  demo) REQS="requirements/demo.txt requirements/onnx.txt" ;;
  test) REQS="requirements/runtime.txt requirements/onnx.txt requirements/torch.txt requirements/test.txt requirements/demo.txt" ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v qgis_process >/dev/null && ! command -v qgis_process.bin >/dev/null \
   || ! /usr/bin/python3 -c "import qgis.core, osgeo.gdal, scipy" 2>/dev/null \
   || ! /usr/bin/python3 -c "import ensurepip" 2>/dev/null; then
  echo "== installing QGIS from the distribution (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    qgis python3-qgis qgis-providers python3-scipy python3-venv python3-pip >/dev/null
fi

# A set is installed when its stamp is newer than its requirement files (the test set holds
# the demo set).
up_to_date() { [ -f ".venv/.installed-$1" ] && [ -z "$(find $REQS -newer ".venv/.installed-$1")" ]; }
if up_to_date "$SET" || { [ "$SET" = demo ] && up_to_date test; }; then
  exit 0
fi

[ -x .venv/bin/python ] || /usr/bin/python3 -m venv --system-site-packages .venv
# Keep every package QGIS relies on at the version the distribution ships (the same pins the
# plugin's dependency installer uses: installer/dependencies.py).
/usr/bin/python3 scripts/deps.py --print-constraints > .venv/constraints.txt
echo "== installing the $SET packages into .venv (constraints: $(tr '\n' ' ' < .venv/constraints.txt))"
.venv/bin/python -m pip install -q --upgrade-strategy only-if-needed -c .venv/constraints.txt \
  $(printf -- '-r %s ' $REQS)
touch ".venv/.installed-$SET"
