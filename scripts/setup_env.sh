#!/usr/bin/env bash
# One-shot set-up on a fresh Debian/Ubuntu machine: QGIS from the distribution when missing,
# then a virtual environment in .venv (with QGIS's own Python packages visible) holding the
# runtime and test dependencies. QGIS's numpy is pinned so its bindings keep working.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v qgis_process >/dev/null && ! command -v qgis_process.bin >/dev/null \
   || ! /usr/bin/python3 -c "import qgis.core, osgeo.gdal" 2>/dev/null \
   || ! /usr/bin/python3 -c "import ensurepip" 2>/dev/null; then
  echo "== installing QGIS from the distribution (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    qgis python3-qgis qgis-providers python3-venv python3-pip >/dev/null
fi

STAMP=.venv/.installed
REQS="requirements/runtime.txt requirements/test.txt"
if [ -f "$STAMP" ] && [ -z "$(find $REQS -newer "$STAMP")" ]; then
  exit 0
fi

[ -x .venv/bin/python ] || /usr/bin/python3 -m venv --system-site-packages .venv
# Keep every package QGIS relies on at the version the distribution ships (the same pins the
# plugin's dependency installer uses: plugin/dependencies.py).
/usr/bin/python3 scripts/deps.py --print-constraints > .venv/constraints.txt
echo "== installing Python dependencies into .venv (constraints: $(tr '\n' ' ' < .venv/constraints.txt))"
.venv/bin/python -m pip install -q --upgrade-strategy only-if-needed -c .venv/constraints.txt \
  $(printf -- '-r %s ' $REQS)
touch "$STAMP"
