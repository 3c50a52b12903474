#!/usr/bin/env bash
# pip install of python/ into a fresh venv (system site packages for NumPy/PyTorch), offline,
# with the library and command CTest built; then the installed package, not the source tree,
# runs the example, reports where its bundled library lives, and runs the bundled command
# through the `ropegen` script pip installed and through `python -m ropegen`.
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
version=$("$work/venv/bin/python" -c "import ropegen; print(ropegen.__version__)")
for cmd in "$work/venv/bin/ropegen" "$work/venv/bin/python -m ropegen"; do
  got=$($cmd --version)
  echo "$cmd --version: $got"
  [ "$got" = "ropegen $version" ] || { echo "expected 'ropegen $version'"; exit 1; }
done
"$work/venv/bin/ropegen" "op=rope head_dim=32 q_heads=2 kv_heads=1" --arch host --emit | grep -q "ropegen_rope_"
set +e
"$work/venv/bin/ropegen" --no-such-flag > /dev/null 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || { echo "the command's exit status did not come through: $rc"; exit 1; }
echo "installed command: ok"
