#!/usr/bin/env bash
# pip install of python/ into a fresh venv (system site packages for NumPy/PyTorch), offline,
# with the library CTest built; then the installed package, not the source tree, runs the
# example and reports where its bundled library lives.
# Usage: install_check.sh PYTHON PACKAGE_DIR LIB_DIR WORK_DIR
set -euo pipefail
py=$1 pkg=$2 lib=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
"$py" -m venv --system-site-packages "$work/venv"
# The build writes build/ and *.egg-info under the package dir; keep them out of the tree.
cp -r "$pkg" "$work/src" && rm -rf "$work/src/build" "$work/src"/*.egg-info
ROPEGEN_LIB_DIR="$lib" "$work/venv/bin/pip" install --no-build-isolation --no-index --no-deps -q "$work/src"
cd "$work"
unset ROPEGEN_LIB_DIR ROPEGEN_LIB PYTHONPATH
where=$("$work/venv/bin/python" -c "import ropegen; print(ropegen.library_path)")
echo "installed library: $where"
case "$where" in "$work/venv/"*/site-packages/ropegen/libropegen_c.so) ;; *) echo "not the bundled library"; exit 1;; esac
"$work/venv/bin/python" "$pkg/examples/quickstart.py"
