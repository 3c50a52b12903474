#!/usr/bin/env bash
# The model zoo: every models/*.rg verifies on the host against the reference.
# Usage: test_models.sh PATH_TO_ROPEGEN MODELS_DIR
set -u
bin="$1"
dir="$2"
min_files=27
shopt -s nullglob
files=("$dir"/*.rg)
fails=()
for f in "${files[@]}"; do
  if out=$("$bin" --verify --spec "$f" --all --arch host 2>&1); then
    echo "PASS $(basename "$f")"
  else
    echo "FAIL $(basename "$f")"
    echo "$out" | head -20
    fails+=("$(basename "$f")")
  fi
done
if [ "${#files[@]}" -lt "$min_files" ]; then
  echo "FAIL only ${#files[@]} spec files in $dir, want at least $min_files"
  exit 1
fi
if [ "${#fails[@]}" -gt 0 ]; then
  echo "${#fails[@]} of ${#files[@]} model files failed: ${fails[*]}"
  exit 1
fi
echo "all ${#files[@]} model files verify"
